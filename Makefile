# fieldfit: `make demo` and `make test` work on a fresh machine (Debian, Python 3.11).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench bench-vecchia lint system clean

$(STAMP): pyproject.toml scripts/install_system.sh
	bash scripts/install_system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel "setuptools>=77" "cython<3.1" "numpy>=1.26"
	# torch first, pinned: its CPU build is on local disk (an unpinned torch pulls a CUDA build)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-build-isolation "scikit-sparse==0.4.16"
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

system:
	bash scripts/install_system.sh

demo: $(STAMP)
	$(VENV)/bin/fieldfit demo --out demo-output

test: $(STAMP)
	$(VENV)/bin/pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/exact_gp.py

bench-vecchia: $(STAMP)
	$(PY) benchmarks/vecchia.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output

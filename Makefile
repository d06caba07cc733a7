# fieldfit: `make demo` and `make test` work on a fresh machine (Debian, Python 3.11).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test test-slow docs docs-test bench bench-vecchia lint system clean

$(STAMP): pyproject.toml scripts/install_system.sh
	bash scripts/install_system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel "setuptools>=77" "cython<3.1" "numpy>=1.26"
	# torch first, pinned: its CPU build is on local disk (an unpinned torch pulls a CUDA build)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-build-isolation "scikit-sparse==0.4.16"
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

# the docs extra (Sphinx, sphinx-gallery, numpydoc, ...) and, for the site's browser test,
# Debian's headless Chromium and its driver
$(DOCS_STAMP): $(STAMP)
	bash scripts/install_system.sh docs
	$(PY) -m pip install --quiet -e ".[dev,bench,docs]"
	touch $(DOCS_STAMP)

system:
	bash scripts/install_system.sh

demo: $(STAMP)
	$(VENV)/bin/fieldfit demo --out demo-output

test: $(STAMP)
	$(VENV)/bin/pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/pytest -q -m slow

# the site, into docs/_build/html: the API reference, the CLI pages and the executed gallery;
# any warning fails the build
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# open the built site in headless Chromium (after make docs)
docs-test: $(DOCS_STAMP)
	$(VENV)/bin/pytest -q -m docs tests/test_docs_site.py

bench: $(STAMP)
	$(PY) benchmarks/exact_gp.py

bench-vecchia: $(STAMP)
	$(PY) benchmarks/vecchia.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples docs/conf.py docs/_ext

clean:
	rm -rf $(VENV) demo-output docs/_build docs/api/generated docs/auto_examples docs/gen_modules docs/cli

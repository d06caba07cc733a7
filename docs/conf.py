"""Sphinx configuration of the fieldfit documentation site (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import fieldfit  # noqa: E402

project = "fieldfit"
author = "the fieldfit developers"
copyright = "2026, the fieldfit developers"
version = release = fieldfit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "cli_pages",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "gen_modules/backreferences"]
templates_path = ["_templates"]

# the API reference: one page per public object, from the packages' __all__
autosummary_generate = True
autosummary_imported_members = True
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "none"
autodoc_member_order = "bysource"


def documented_places() -> dict[str, str]:
    """Where each public object is documented: its first name in the API reference.

    The top-level names come first, then each subpackage's ``__all__`` in the order of
    ``api/subpackages.rst``; an object re-exported under another name (``fieldfit.Matern`` is
    ``fieldfit.covariance.Matern``) gets one page, and the other listings link to it.
    """
    import importlib
    import inspect

    modules = ["fieldfit"] + [line.strip() for line in
                              (HERE / "api" / "subpackages.rst").read_text().splitlines()
                              if line.strip().startswith("fieldfit.")]
    first: dict[int, str] = {}
    places = {}
    for name in modules:
        module = importlib.import_module(name)
        for member in getattr(module, "__all__", []):
            obj = getattr(module, member)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            places[f"{name}.{member}"] = first.setdefault(id(obj), f"{name}.{member}")
    return places


autosummary_context = {"documented_at": documented_places()}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# the example gallery: every examples/plot_*.py is executed when the site is built
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "ignore_pattern": r"/_",
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("fieldfit",),
    "reference_url": {"fieldfit": None},
    "download_all_examples": False,
    "within_subsection_order": "gallery_order.ExampleOrder",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    "capture_repr": ("_repr_html_", "__repr__"),
}



def local_mathjax() -> Path:
    """MathJax 3 (from the ``django-static-mathjax`` wheel) copied beside the site's static
    files, so the maths renders without a network: the CHTML component and its fonts."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("mathjax")
    source = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    target = HERE / "_build" / "mathjax-static"
    fonts = Path("output") / "chtml" / "fonts" / "woff-v2"
    if not (target / "mathjax" / "tex-mml-chtml.js").exists():
        shutil.copytree(source / fonts, target / "mathjax" / fonts, dirs_exist_ok=True)
        shutil.copy2(source / "tex-mml-chtml.js", target / "mathjax" / "tex-mml-chtml.js")
    return target


mathjax_path = "mathjax/tex-mml-chtml.js"

myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "fieldfit"
html_static_path = ["_static", str(local_mathjax())]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

nitpicky = False

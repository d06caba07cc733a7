"""The documentation's examples run: the doctests of the modules behind ``fieldfit.fit``,
``fieldfit.krige``, ``fieldfit.Observations``, ``fieldfit.sample``, ``GaussianField.simulate``
and ``fieldfit.neural.load_estimator`` each have at least one example, and none fails."""

import doctest
import importlib

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the modules whose examples the documentation shows, and what each documents
MODULES = [
    ("fieldfit.fit.mle", "fieldfit.fit"),
    ("fieldfit.predict.kriging", "fieldfit.krige"),
    ("fieldfit.data", "fieldfit.Observations"),
    ("fieldfit.fit.mcmc", "fieldfit.sample"),
    ("fieldfit.fit.convergence", "fieldfit.fit.convergence.check_convergence"),
    ("fieldfit.settings", "fieldfit.settings"),
    ("fieldfit.models.gaussian_field", "GaussianField.simulate"),
    ("fieldfit.neural.bundle", "fieldfit.neural.load_estimator"),
]


@pytest.mark.parametrize(("module", "documents"), MODULES)
def test_the_examples_run(module, documents):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=False)
    assert result.attempted > 0, f"{module} has no example for {documents}"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module} fail"

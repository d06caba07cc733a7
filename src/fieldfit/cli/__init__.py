"""The ``fieldfit`` command::

    fieldfit fit DATA --coords x,y [--time t] --value z --model matern [--fix smoothness=1.5]
                 [--engine exact|vecchia|spde [--neighbours 30]] [--predict-at FILE]
                 --out result.json [--predictions p.parquet]
    fieldfit fit DATA --coords x,y --time t --value z --model advection-diffusion
                 [--alpha 1] [--alpha-s 1] [--time-step 1] [--no-advection] --out r.json
    fieldfit simulate [POINTS] (--coords x,y | --grid 50x50) --model matern
                 --params variance=1,range=0.2,smoothness=1.5,nugget=0.1,mean=0 --out sim.parquet
    fieldfit train-estimator --out est.pt [--estimator quantile|point|posterior|ratio]
                 [--model matern] [--prior range=0.02:0.5:log ...] [--fix smoothness=1]
                 [--design mixed|uniform|clustered|grid] [--n-min 50 --n-max 1000]
                 [--train 20000] [--store DIR] [--scheduler ADDRESS] [--on-the-fly]
    fieldfit estimate --estimator FILE_OR_NAME DATA --out OUT.csv
    fieldfit diagnose --estimator FILE_OR_NAME [--simulations 500] [--seed 0] --out DIR
    fieldfit sample DATA --coords x,y --value z --model matern [--engine vecchia]
                 [--prior range=pc:0.1:0.5 --prior nugget=halfnormal:1] [--fix smoothness=1]
                 [--chains 4 --draws 1000 --warmup 1000 --seed 0] --out post.nc
                 [--summary post.json] [--plots DIR] [--predict-at F --predictions p.parquet]
    fieldfit demo [--dataset meuse] [--out DIR]
    fieldfit bench heaton [--out DIR] [--neighbours 30] [--dataset simulated|satellite|both]

Results follow DESIGN.md: the fit as JSON, predictions as a table (Parquet or CSV by suffix)
with the input rows' ``id`` and the columns ``mean`` and ``sd``. The tables that ``fit``,
``estimate`` and ``sample`` print end with the covariance's parameterisation and show the
practical range beside the range (:mod:`fieldfit.fit.parameterisation`).

One module per group of commands: :mod:`.fit_cmd` (fit), :mod:`.simulate_cmd` (simulate),
:mod:`.neural_cmd` (train-estimator, estimate), :mod:`.diagnose_cmd` (diagnose),
:mod:`.sample_cmd` (sample), :mod:`.demo_cmd` (demo, bench); the shared option parsing and
error reporting in :mod:`.common`.
"""

from __future__ import annotations

import sys

# importing the command modules registers their commands
from . import demo_cmd, diagnose_cmd, fit_cmd, neural_cmd, sample_cmd, simulate_cmd  # noqa: F401
from .app import app
from .common import build_from_cli

__all__ = ["app", "build_from_cli", "main"]


def main():  # pragma: no cover
    """Run the ``fieldfit`` command on ``sys.argv`` and exit with its status."""
    sys.exit(app())

"""The estimator interface and registry (fieldfit.neural.base) and the named expert summaries
(fieldfit.neural.graphs.GRAPH_EXPERT / GRID_EXPERT): the layout the shipped networks were
trained on, column by column."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fieldfit
from fieldfit.neural import (
    CNNSummary,
    GNNSummary,
    PointEstimator,
    PosteriorEstimator,
    QuantileEstimator,
    RatioEstimator,
    available,
    load_estimator,
)
from fieldfit.neural.base import (
    ESTIMATOR_KINDS,
    AmortizedEstimator,
    build_estimator,
    estimator_from_config,
    estimator_kinds,
    estimator_options,
    register_estimator,
)
from fieldfit.neural.graphs import (
    GRAPH_EXPERT,
    GRID_EXPERT,
    PooledBatch,
    collate_graphs,
    collate_grids,
    expert_field,
)

NEURAL = Path(fieldfit.__file__).parent / "neural"


def _imports(module: str) -> set[str]:
    """The fieldfit.neural modules a module imports (anywhere in it, functions included)."""
    tree = ast.parse((NEURAL / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "fieldfit.neural."):
            out.add(node.module.split(".")[2])
    return out


def test_estimator_modules_import_the_base_not_each_other():
    kinds = {"estimators", "posterior", "ratio"}
    for module in kinds:
        assert "base" in _imports(module)
        assert not _imports(module) & (kinds - {module}), module
    assert not _imports("base") & (kinds | {"bundle", "recipes"})
    assert "estimators" not in _imports("bundle")


def test_registry_holds_every_kind_once_the_package_is_imported():
    assert estimator_kinds() == ("quantile", "point", "posterior", "ratio")
    assert ESTIMATOR_KINDS == {"quantile": QuantileEstimator, "point": PointEstimator,
                               "posterior": PosteriorEstimator, "ratio": RatioEstimator}
    assert all(cls.kind == k for k, cls in ESTIMATOR_KINDS.items())
    # importing the registry module alone (a fresh interpreter) still finds every kind
    code = ("from fieldfit.neural.base import estimator_kinds; "
            "print(','.join(estimator_kinds()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "quantile,point,posterior,ratio"


def test_build_estimator_and_its_refusals():
    summary = GNNSummary(width=4, layers=1, out=4, k=3)
    net = build_estimator("point", summary, 3, loss="squared")
    assert isinstance(net, PointEstimator) and net.loss_kind == "squared"
    assert estimator_options("point") == ("loss",)
    assert estimator_options("quantile") == ("probs", "widening")
    assert isinstance(build_estimator("ratio", summary, 2), RatioEstimator)
    with pytest.raises(ValueError, match="unknown estimator kind 'flow'.*quantile"):
        build_estimator("flow", summary, 2)
    with pytest.raises(ValueError, match="quantile estimator takes the options"):
        build_estimator("quantile", summary, 2, loss="absolute")
    with pytest.raises(ValueError, match="already registered"):
        @register_estimator("point")
        class Another(AmortizedEstimator):
            pass
    assert ESTIMATOR_KINDS["point"] is PointEstimator


@pytest.mark.parametrize("kind", ["quantile", "point", "posterior", "ratio"])
def test_configs_round_trip_through_the_registry(kind):
    torch.manual_seed(0)
    net = build_estimator(kind, GNNSummary(width=4, layers=1, out=4, k=3), 2)
    again = estimator_from_config(net.config())
    assert type(again) is type(net) and again.config() == net.config()
    again.load_state_dict(net.state_dict())


def test_shipped_bundles_resolve_their_kinds():
    names = available()
    assert names
    for name in names:
        est = load_estimator(name)
        assert ESTIMATOR_KINDS[est.network.kind] is type(est.network)


def test_expert_summaries_are_the_trained_layout_by_name():
    """Column by column what the shipped networks were trained on: (mean, log sd, log n,
    log r) for graphs, the log grid spacing in place of log n for grids; read by name."""
    rng = np.random.default_rng(0)
    items = [(rng.random((30, 2)), rng.normal(2.0, 3.0, size=(2, 30))),
             (rng.random((17, 2)), rng.normal(size=(1, 17)))]
    batch = collate_graphs(items, k=4)
    ref = torch.tensor([[v.mean(), np.log(v.std()), np.log(c.shape[0]), np.log(v.shape[0])]
                        for c, v in items], dtype=torch.float32)
    torch.testing.assert_close(batch.expert, ref, rtol=0, atol=0)
    assert GRAPH_EXPERT.fields == ("mean", "log_sd", "log_n", "log_r")
    torch.testing.assert_close(expert_field(batch, "log_n"), ref[:, 2], rtol=0, atol=0)
    torch.testing.assert_close(expert_field(batch, "log_r"), ref[:, 3], rtol=0, atol=0)
    pooled = PooledBatch(torch.zeros(2, 3), batch.expert)
    torch.testing.assert_close(expert_field(pooled, "log_n"), ref[:, 2], rtol=0, atol=0)
    with pytest.raises(ValueError, match="no expert summary 'log_spacing'"):
        expert_field(batch, "log_spacing")

    g = np.stack(np.meshgrid(np.linspace(0, 1, 6), np.linspace(0, 2, 5)), -1).reshape(-1, 2)
    values = rng.normal(size=(3, len(g)))
    grid = collate_grids([(g, values)])
    step = np.sqrt(0.2 * 0.5)
    ref = torch.tensor([[values.mean(), np.log(values.std()), np.log(step), np.log(3)]],
                       dtype=torch.float32)
    torch.testing.assert_close(grid.expert, ref, rtol=0, atol=0)
    assert GRID_EXPERT.fields == ("mean", "log_sd", "log_spacing", "log_r")
    torch.testing.assert_close(expert_field(grid, "log_spacing"), ref[:, 2], rtol=0, atol=0)
    assert GNNSummary().sets.n_expert == CNNSummary().sets.n_expert == 4
    with pytest.raises(ValueError, match="expert summaries are"):
        GRAPH_EXPERT.row(mean=0.0, log_sd=0.0, log_n=1.0)

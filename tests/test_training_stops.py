"""How training runs end (fieldfit.neural.training): early stopping after ``patience`` epochs
without a better validation loss, the time limit ``max_seconds``, Ctrl-C; in every case the
weights of the best validation epoch are restored (and checkpointed), and the history says
why it stopped.

Most tests drive ``optimise`` with a toy estimator: two weights w pulled by the training loss
towards 10 while the validation loss is |w − 1|², so the validation loss falls for a few
epochs and then rises for ever (overfitting by design)."""

import re
import time

import numpy as np
import pytest
import torch
from torch import nn

import fieldfit  # noqa: F401
from fieldfit.neural import GNNSummary, PointEstimator, TrainingSettings, train
from fieldfit.neural.training import optimise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Toy(nn.Module):
    """loss(target, u) = |w − target|²; ``u`` only gives the batch size."""

    kind = "toy"

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def loss(self, target, u):
        return ((self.w - target) ** 2).sum()


VAL = [(torch.ones(2), torch.zeros(1, 1))]             # validation loss |w − 1|²


def _val_loss(net):
    with torch.no_grad():
        return float(((net.w - 1.0) ** 2).sum())


class Epochs:
    """``epoch_batches``: ``steps`` batches towards 10 per epoch; records the weights at the
    start of every epoch (= at the end of the one before); optionally sleeps, or raises
    KeyboardInterrupt after the first batch of epoch ``interrupt_at``."""

    def __init__(self, net, steps=1, sleep=0.0, interrupt_at=None):
        self.net, self.steps, self.sleep, self.interrupt_at = net, steps, sleep, interrupt_at
        self.start_weights = []

    def __call__(self, epoch):
        self.start_weights.append(self.net.w.detach().clone())
        for i in range(self.steps):
            if epoch == self.interrupt_at and i == 1:
                raise KeyboardInterrupt
            if self.sleep:
                time.sleep(self.sleep)
            yield torch.full((2,), 10.0), torch.zeros(1, 1)

    def weights_after(self, epoch):
        return self.start_weights[epoch + 1]


def _settings(**kw):
    return TrainingSettings(**{"epochs": 100, "lr": 0.3, "patience": 3, **kw})


def test_early_stopping_after_patience_epochs_restores_the_best_weights(tmp_path):
    torch.manual_seed(0)
    net = Toy()
    epochs = Epochs(net)
    ckpt = tmp_path / "best.ckpt"
    hist = optimise(net, epochs, VAL, _settings(), checkpoint=ckpt, progress=False)
    best = int(np.argmin(hist.val))
    # the validation loss first falls, then rises: the best epoch is an interior one
    assert 0 < best < len(hist.val) - 1 and hist.best_epoch == best
    assert all(np.diff(hist.val[best:]) > 0)
    # stopped exactly `patience` epochs after the best one
    assert len(hist.val) == best + 3 + 1 == len(hist.train)
    assert hist.stopped == f"early stopping after epoch {best + 3}"
    # the network holds the weights it had at the end of the best epoch, not the last ones
    torch.testing.assert_close(net.w.detach(), epochs.weights_after(best), rtol=0, atol=0)
    assert _val_loss(net) == pytest.approx(hist.val[best], rel=1e-6)
    assert _val_loss(net) < hist.val[-1]
    assert not net.training
    # and the checkpoint: those weights, that epoch
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == best
    torch.testing.assert_close(saved["state"]["w"], epochs.weights_after(best), rtol=0, atol=0)
    assert saved["history"]["best_epoch"] == best


def test_patience_sets_when_it_stops():
    lengths = {}
    for patience in (2, 5):
        torch.manual_seed(0)
        net = Toy()
        hist = optimise(net, Epochs(net), VAL, _settings(patience=patience), progress=False)
        lengths[patience] = len(hist.val) - hist.best_epoch - 1
        assert hist.stopped.startswith("early stopping")
    assert lengths == {2: 2, 5: 5}


def test_the_time_limit_stops_at_the_end_of_the_first_epoch_past_it():
    torch.manual_seed(0)
    net = Toy()
    # the validation loss keeps falling (w moves towards 1 only): no early stopping
    val = [(torch.full((2,), 10.0), torch.zeros(1, 1))]
    limit, sleep = 0.3, 0.12                 # each epoch sleeps 0.12 s: 3 epochs pass 0.3 s
    hist = optimise(net, Epochs(net, sleep=sleep), val,
                    _settings(max_seconds=limit, patience=10**6, lr=0.01), progress=False)
    m = re.fullmatch(r"time limit after epoch (\d+)", hist.stopped)
    assert m, hist.stopped
    n_epochs = int(m.group(1)) + 1
    assert n_epochs == len(hist.val) and n_epochs < 100
    # not before the limit, and at the first epoch's end after it (each epoch ≥ 0.12 s)
    assert hist.seconds > limit
    assert n_epochs <= int(limit / sleep) + 1
    assert all(np.diff(hist.val) < 0) and hist.best_epoch == n_epochs - 1


def test_ctrl_c_restores_the_best_weights_and_says_so(tmp_path):
    torch.manual_seed(0)
    net = Toy()
    probe = Toy()
    free_run = optimise(probe, Epochs(probe, steps=2), VAL, _settings(patience=50, epochs=12),
                        progress=False)
    best = int(np.argmin(free_run.val))
    stop_at = best + 3                       # Ctrl-C in the middle of a later epoch
    assert stop_at < 12
    epochs = Epochs(net, steps=2, interrupt_at=stop_at)
    ckpt = tmp_path / "best.ckpt"
    hist = optimise(net, epochs, VAL, _settings(patience=50, epochs=12), checkpoint=ckpt,
                    progress=False)
    assert hist.stopped == "interrupted"
    assert len(hist.val) == stop_at                   # the interrupted epoch is not recorded
    assert hist.val == free_run.val[:stop_at] and hist.best_epoch == best
    torch.testing.assert_close(net.w.detach(), epochs.weights_after(best), rtol=0, atol=0)
    assert _val_loss(net) == pytest.approx(min(hist.val), rel=1e-6)
    assert not net.training
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == best
    torch.testing.assert_close(saved["state"]["w"], net.w.detach(), rtol=0, atol=0)


def test_the_epoch_limit_is_reported():
    torch.manual_seed(0)
    net = Toy()
    hist = optimise(net, Epochs(net), VAL, _settings(epochs=2, patience=50), progress=False)
    assert hist.stopped == "epoch limit" and len(hist.val) == 2


def test_train_with_a_zero_time_limit_runs_one_epoch(tmp_path):
    """``train`` (simulated samples, a real estimator): max_seconds=0 stops after epoch 0;
    the weights are that epoch's, which the checkpoint holds."""
    from fieldfit.neural import Bound
    from fieldfit.neural.recipes import build_spec

    spec = build_spec("exponential", {"range": Bound(0.05, 0.5, "loguniform"),
                                      "mean": Bound(-2.0, 2.0)},
                      {"variance": 1.0, "nugget": 0.01}, "uniform", 30, 40)
    assert spec.prior.names == ["range", "mean"]
    tr, va = spec.simulate(64, seed=0), spec.simulate(range(10**6, 10**6 + 16), seed=0)
    torch.manual_seed(0)
    net = PointEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ckpt = tmp_path / "e.ckpt"
    hist = train(net, spec, tr, va, TrainingSettings(epochs=50, batch_size=16, max_seconds=0,
                                                     seed=0), checkpoint=ckpt, progress=False)
    assert hist.stopped == "time limit after epoch 0"
    assert len(hist.val) == len(hist.train) == 1 and hist.best_epoch == 0
    after = net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)   # it did train
    saved = torch.load(ckpt, weights_only=True)
    for k, v in after.items():
        torch.testing.assert_close(saved["state"][k], v, rtol=0, atol=0)

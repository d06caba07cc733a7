"""``fieldfit fit --resume`` without a checkpoint says so on stderr and fits afresh.

The checkpoint journal is OUT's stem + ``.checkpoint.jsonl`` beside OUT (result.json →
result.checkpoint.jsonl); the notice names that path, and the fit's result is the one a run
without ``--resume`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import invoke, matern_frame, ok
from fieldfit.cli.fit_cmd import sibling

ARGS = ("--coords", "x,y", "--value", "z", "--model", "exponential", "--restarts", "0",
        "--no-progress")


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    matern_frame(ids=False).dropna().to_csv(path, index=False)
    return path


def test_sibling_names_the_checkpoint_after_the_stem():
    assert sibling(Path("runs/result.json"), "checkpoint.jsonl") == Path(
        "runs/result.checkpoint.jsonl")
    assert sibling(Path("runs/result"), "interrupted.json") == Path("runs/result.interrupted.json")
    assert sibling(Path("a.b.json"), "checkpoint.jsonl") == Path("a.b.checkpoint.jsonl")


def test_resume_without_a_checkpoint_says_so_and_fits_afresh(tmp_path):
    data = _data(tmp_path)
    out = tmp_path / "result.json"
    checkpoint = tmp_path / "result.checkpoint.jsonl"
    res = ok(invoke("fit", data, *ARGS, "--out", out, "--resume"))
    assert (f"--resume: no checkpoint {checkpoint} found; starting a new fit"
            in " ".join(res.stderr.split()))
    assert out.exists() and not checkpoint.exists()   # finished: the journal is removed
    resumed = json.loads(out.read_text())

    plain_out = tmp_path / "plain.json"
    plain = ok(invoke("fit", data, *ARGS, "--out", plain_out))
    assert "--resume" not in plain.stderr and "no checkpoint" not in plain.stderr
    again = json.loads(plain_out.read_text())
    assert resumed["params"] == again["params"]
    assert resumed["loglik"] == again["loglik"]

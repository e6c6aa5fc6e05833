"""cluster.mode=colocated on CPU: the rollout worker and the learner take turns on the same cores,
each with all of them, and train exactly as separate roles given the same threads would."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from tests.support.runs import SMALL_RUN, train

# SMALL_RUN gives each role one thread; both modes here run each phase on both cores.
BASE = [a for a in SMALL_RUN if not a.startswith(("rollout.threads=", "learner.threads="))]
COMPARED = (
    "loss",
    "reward/mean",
    "kl",
    "entropy/cot",
    "response_length/mean",
    "data/batch_digest",
    "grad_norm",
)


def _records(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("step", 0) >= 1 and "loss" in r]


@pytest.mark.slow
def test_colocated_mode_samples_and_trains_as_separate_roles_with_the_same_threads(tmp_path):
    runs = tmp_path / "runs"
    common = [*BASE, "train.steps=2", "train.checkpoint_every=2", f"logging.runs_dir={runs}"]
    separate = train(*common, "rollout.threads=2", "learner.threads=2", "logging.run_name=separate")
    colocated = train(*common, "cluster.mode=colocated", "logging.run_name=colocated")
    assert "Colocated" not in separate.stdout
    assert "Colocated: rollout workers and learner take turns" in colocated.stdout
    assert "2 thread(s) a worker, 2 a learner rank" in colocated.stdout  # both cores, each in its turn
    assert "weights through the node's shared-memory object store" in colocated.stdout  # no gloo group

    a, b = _records(runs / "separate"), _records(runs / "colocated")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2]
    for left, right in zip(a, b, strict=True):
        for key in COMPARED:
            assert left[key] == right[key], (key, left[key], right[key])
    assert "time/rollout_sleep" not in b[0]  # CPU engines have no device to give back

    # same sampled tokens and same updates: the policies after step 2 are the same, bit for bit
    weights = [
        load_file(next((runs / name / "checkpoints").glob("step-*/model.safetensors")))
        for name in ("separate", "colocated")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])

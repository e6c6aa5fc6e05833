"""Multi-turn RL end to end with real Ray, vLLM and DeepSpeed on a tiny model: G trajectories per
task played with the environment in the loop, judged by the reward pool, trained on loss-masked
batches, after a warm start on the tasks' reference plays; greedy multi-turn validation before and
after."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from cluster.observe.plots import read_metrics, summary_lines
from tests.support import counter_env
from tests.support.runs import FAST, REPO_ROOT, train

MULTI_TURN_KEYS = {
    "multiturn/turn_pass_rate",
    "multiturn/success",
    "multiturn/format_ok",
    "multiturn/turns_per_trajectory",
    "multiturn/steps_per_turn",
    "multiturn/calls_per_turn",
    "multiturn/env_errors",
    "multiturn/observation_tokens",
    "multiturn/model_tokens",
    "time/env",
}


@pytest.mark.slow
def test_multi_turn_training_runs_on_loss_masked_trajectories(tmp_path):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "cluster.synthetic.multiturn", "--seed", "0", "--out", str(data),
         "--train", "24", "--val", "6", "--unseen", "2"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    # A user's own environment beside the built-in ones: tasks over it, its module named in the config.
    train_path, val_path = data / "mixed_train.jsonl.gz", data / "mixed_val.jsonl"
    with gzip.open(data / "multiturn_train.jsonl.gz", "rt") as f, gzip.open(train_path, "wt") as out:
        out.write(f.read() + "".join(json.dumps(counter_env.task(n)) + "\n" for n in range(4)))
    val_path.write_text(
        "".join(json.dumps(counter_env.task(n)) + "\n" for n in range(4, 6))
        + (data / "multiturn_val.jsonl").read_text()
    )
    runs = tmp_path / "runs"
    result = train(
        *FAST,
        "data.multi_turn=true",
        f"data.train_path={train_path}",
        f"data.val_path={val_path}",
        "data.env_modules=[tests.support.counter_env]",
        "train.eval_limit=10",
        "data.prompt_style=signatures",
        f"logging.runs_dir={runs}",
        "logging.run_name=mt",
    )
    out = result.stdout + result.stderr
    assert "Multi-turn tasks: 28 for training, 10 for validation" in out
    assert "reference steps of 28 multi-turn tasks" in out  # the warm start: the tasks' reference plays
    records = [json.loads(line) for line in (runs / "mt" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    for record in records[1:]:
        assert record.keys() >= MULTI_TURN_KEYS
        assert 0.0 <= record["multiturn/turn_pass_rate"] <= 1.0
        assert record["multiturn/turns_per_trajectory"] >= 1.0
        assert record["reward/mean"] == record["multiturn/success"]
        # the learner got loss-masked batches: it trained on the model's tokens only
        assert record["multiturn/observation_tokens"] > 0
        assert record["tokens"] == record["multiturn/model_tokens"]
    for record in (records[0], records[-1]):  # greedy multi-turn validation, before and after
        assert record["eval/count"] == 10 and 0.0 <= record["eval/accuracy"] <= 1.0
        assert "eval/multiturn/turn_pass_rate" in record and "eval/slice/unseen_values" in record
    played = (runs / "mt" / "eval" / "step-000002.jsonl").read_text().splitlines()
    assert len(played) == 10 and all("turns_played" in json.loads(line) for line in played)
    counters = [json.loads(line) for line in played if json.loads(line)["id"].startswith("counters_")]
    assert len(counters) == 2 and all(r["turns_played"] >= 1 for r in counters)  # played on the user's env
    assert (runs / "mt" / "checkpoints" / "step-000002" / "config.json").is_file()
    assert "Validation multi-turn success before RL:" in out
    lines = summary_lines(read_metrics(runs / "mt" / "metrics.jsonl"))  # the end-of-run plots' summary
    assert any(line.startswith("validation multi-turn success:") for line in lines), lines
    assert (runs / "mt" / "plots" / "val_accuracy.png").is_file()

"""The whole loop with real Ray, vLLM and DeepSpeed on a tiny model: a few steps, metrics,
checkpoints and resume."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

from tests.support.runs import FAST, REPO_ROOT, SMALL_RUN, train
from tests.support.wandb_files import wandb_history

REQUIRED_KEYS = {
    "step",
    "reward/mean",
    "entropy/cot",
    "kl",
    "time/step",
    "time/generate",
    "time/train",
    "time/weight_sync",
    "throughput/tokens_per_s",
}


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _saved_dataset(path: Path, rows: int) -> Path:
    """The first rows of the shipped training split as a ``datasets`` dataset saved to disk, nested
    fields of mixed types as JSON text, the way a dataset column holds them."""
    import datasets

    with gzip.open(REPO_ROOT / "data" / "train.jsonl.gz", "rt") as shipped:
        records = [json.loads(next(shipped)) for _ in range(rows)]
    for record in records:
        for key in ("messages", "tools", "ground_truth"):
            record[key] = json.dumps(record[key])
    datasets.Dataset.from_list(records).save_to_disk(str(path))
    return path


@pytest.mark.slow
def test_train_runs_checkpoints_and_resumes(tmp_path):
    """Two steps, a checkpoint, a resume to a third step that takes the prompts an uninterrupted run
    takes. The run trains on a dataset saved to disk and, where wandb is installed, logs to an
    offline wandb run that the resume continues (one run of the whole stack checks all three)."""
    runs = tmp_path / "runs"
    # The warm start reads its own samples (data.warm_start_path), RL the training split.
    warm_data = tmp_path / "warm.jsonl"
    warm_data.write_text("\n".join((REPO_ROOT / "data" / "val.jsonl").read_text().splitlines()[:40]) + "\n")
    train_data = _saved_dataset(tmp_path / "train-ds", rows=64)
    with_wandb = importlib.util.find_spec("wandb") is not None
    wandb = ["logging.wandb=true", "logging.wandb_tags=[ci,tiny]"] if with_wandb else []
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}
    first = train(
        *FAST, *wandb, f"data.warm_start_path={warm_data}", f"data.train_path={train_data}",
        f"logging.runs_dir={runs}", "logging.run_name=loop", env=env,
    )  # fmt: skip
    run_dir = runs / "loop"
    assert f"AST filter on {warm_data}: AST filter: kept 40 of 40" in first.stdout + first.stderr
    assert "Data: 64 training prompts" in first.stdout

    # The warm-start model, built or reused, names its prompt style for `launch.py eval --model`.
    from cluster.models.resolve import trained_prompt_style

    warm = re.search(r"(\S+/\.cache/warmstart/\w+)", first.stdout + first.stderr)
    assert warm and trained_prompt_style(warm.group(1), "paper") == "signatures"
    assert (run_dir / "warm_start").resolve() == Path(warm.group(1)).resolve()  # the run links it
    # The tiny tokenizer is built on the warm start's texts too: "outlook" occurs only in them.
    from common.tokenizer import load_tokenizer

    assert "outlook" in load_tokenizer(warm.group(1)).tokenize("the weather outlook")[-1]

    records = _metrics(run_dir)
    assert [r["step"] for r in records] == [0, 1, 2]
    for record in records[1:]:
        assert record.keys() >= REQUIRED_KEYS
        assert 0.0 <= record["reward/mean"] <= 1.0
        sides = [record[k] for k in ("reward/call_prompts", "reward/no_call_prompts") if k in record]
        assert sides and min(sides) <= record["reward/mean"] <= max(sides)  # the split averages to it
        assert 0.0 <= record.get("call_rate/train", 0.0) <= 1.0
    assert "eval/accuracy" in records[0] and "eval/accuracy" in records[-1]
    assert 0.0 <= records[-1]["eval/call_rate"] <= 1.0
    report = json.loads((run_dir / "report.json").read_text())
    assert report["eval_after_detail"]["call_rate"] == records[-1]["eval/call_rate"]
    assert (run_dir / "config.yaml").is_file()
    final = run_dir / "checkpoints" / "step-000002"
    assert (final / "config.json").is_file() and (final / "driver_state.json").is_file()

    # The final checkpoint is a Hugging Face model directory.
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(final) is not None

    if with_wandb:  # every numeric value of every step, as written to metrics.jsonl
        run_id = (run_dir / "wandb_id").read_text().strip()
        ids, history, images = wandb_history(run_dir)
        assert ids == {run_id}
        for record in records:
            numeric = {k: v for k, v in record.items() if k != "step" and isinstance(v, int | float)}
            assert numeric and all(history[record["step"]][k] == pytest.approx(v) for k, v in numeric.items())
        assert "plots/overview" in images

    # Resume with more steps: numbering and data order continue, and so does the wandb run.
    train("--resume", str(run_dir), "train.steps=3", env=env)
    records = _metrics(run_dir)
    assert [r["step"] for r in records] == [0, 1, 2, 3]
    if with_wandb:
        ids, history, _ = wandb_history(run_dir)
        assert ids == {run_id} and 3 in history and "reward/mean" in history[3]

    # Step 3 trained on exactly the prompts an uninterrupted run takes at step 3.
    from cluster.data.feed import PromptFeed, load_splits, render_all
    from cluster.models.resolve import resolve_model, tiny_corpus
    from cluster.rundir import resume_config
    from cluster.step import batch_digest
    from common.tokenizer import load_tokenizer

    cfg = resume_config(str(run_dir), ["train.steps=3"])
    train_samples, _ = load_splits(cfg)
    tokenizer = load_tokenizer(resolve_model(cfg.model, tiny_corpus(train_samples, cfg)))
    feed = PromptFeed(
        render_all(train_samples, tokenizer, cfg, "train"), cfg.train.prompts_per_step, cfg.data.shuffle_seed
    )
    assert records[3]["data/batch_digest"] == batch_digest(feed.batch(3))
    assert records[1]["data/batch_digest"] == batch_digest(feed.batch(1))


@pytest.mark.slow
def test_async_mode_with_dynamic_sampling(tmp_path):
    """max_staleness=1: the next batch is sampled while the learner trains, one version behind at
    most; each step records its staleness and, when stale, the importance-sampling correction."""
    runs = tmp_path / "runs"
    train(
        "train.steps=3",
        *SMALL_RUN,
        "train.checkpoint_every=0",
        "algorithm.max_staleness=1",
        "algorithm.dynamic_sampling=true",
        f"logging.runs_dir={runs}",
        "logging.run_name=async",
    )
    records = _metrics(runs / "async")[1:]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["policy/staleness"] for r in records] == [0, 1, 1]  # step 1 waits for its batch
    assert "is/weight_mean" not in records[0]
    for record in records[1:]:
        assert record.keys() >= REQUIRED_KEYS | {"time/wait_rollouts", "is/weight_mean", "is/capped_fraction"}
        assert 0.0 < record["is/weight_mean"] <= 2.0
    for record in records:
        assert 0.0 <= record["frac_zero_std_groups"] <= record["frac_zero_std_groups_sampled"] <= 1.0
        assert record["dynamic_sampling/replaced_groups"] >= 0

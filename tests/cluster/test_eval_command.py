"""``python launch.py eval`` end to end on the tiny model: real Ray, a real vLLM rollout worker,
BFCL questions from the installed bfcl-eval package, the cross-check with BFCL's own checker,
and the validation split through the training loop's ``evaluate()``."""

from __future__ import annotations

import json

import pytest

import launch
from conformance import bfcl_oracle

pytestmark = pytest.mark.skipif(not bfcl_oracle.available(), reason="bfcl-eval is not installed")

CATEGORIES = ("simple_python", "parallel", "irrelevance", "live_relevance")


def _eval(argv: list[str], runs_dir, capsys) -> tuple[int, str, str]:
    status = launch.main(
        [
            "eval",
            *argv,
            f"logging.runs_dir={runs_dir}",
            "rollout.cpus_per_worker=0.5",
            "reward.cpus_per_actor=0.25",
        ]
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_bfcl_eval_writes_accuracy_outputs_chart_and_agrees_with_bfcl(
    ray_cluster, tiny_model_dir, tmp_path, capsys
):
    status, out, err = _eval(
        [
            "--model", str(tiny_model_dir), "--bfcl", ",".join(CATEGORIES), "--limit", "3",
            "--max-new-tokens", "12", "--cross-check", "--name", "tiny-bfcl",
        ],
        tmp_path,
        capsys,
    )  # fmt: skip
    assert status == 0, err
    folder = tmp_path / "tiny-bfcl" / "eval"
    summary = json.loads((folder / "summary.json").read_text())
    assert list(summary["categories"]) == list(CATEGORIES)
    assert all(score["total"] == 3 for score in summary["categories"].values())
    assert summary["overall"]["total"] == 12 and summary["temperature"] == 0.0
    assert summary["model_dir"] == str(tiny_model_dir)
    assert set(summary["aggregates"]) == {"v3", "v4"}
    records = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records[:3]] == ["simple_python_0", "simple_python_1", "simple_python_2"]
    assert len(records) == 12
    generated = [r for r in records if r["finish_reason"]]
    for record in records:
        assert record["correct"] is (record["reason"] == "")
        if record["finish_reason"]:
            assert record["finish_reason"] in ("stop", "length")
            assert record["bfcl"]["correct"] in (record["correct"], None)
        else:  # some live_relevance prompts exceed the tiny model's length: counted wrong, said why
            assert record["reason"].startswith("prompt too long") and not record["correct"]
    assert len(generated) >= 9
    correct = {c: sum(r["correct"] for r in records if r["category"] == c) for c in CATEGORIES}
    assert correct == {c: s["correct"] for c, s in summary["categories"].items()}
    cross = summary["cross_check"]
    assert cross["outputs"] == len(generated) and cross["agreement"] == 1.0 and cross["disagreements"] == []
    assert (folder / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    # The terminal report: the table, both aggregates and the agreement.
    assert "simple_python" in out and "all (micro)" in out
    assert "BFCL v3 Overall" in out and "BFCL v4 Overall" in out
    assert "agreement 100.0%" in out


def test_validation_split_eval_uses_the_training_reward(ray_cluster, tiny_model_dir, tmp_path, capsys):
    status, out, err = _eval(
        [
            "--model",
            str(tiny_model_dir),
            "--data",
            "val",
            "--limit",
            "4",
            "--max-new-tokens",
            "8",
            "--samples",
            "3",
            "--name",
            "v",
        ],
        tmp_path,
        capsys,
    )
    assert status == 0, err
    folder = tmp_path / "v" / "eval"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["kind"] == "val" and summary["overall"]["total"] == 4
    records = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["id"].startswith("val-") for r in records)
    assert all(r["reason"] for r in records if not r["correct"])
    assert "all (micro)" in out and "BFCL v3" not in out
    # --samples 3: three sampled completions a question, judged; pass@3 and mean@3 from them
    assert summary["samples"] == 3 and summary["sample_temperature"] == 1.0
    assert all(len(r["samples_correct"]) == 3 for r in records)
    passes = sum(any(r["samples_correct"]) for r in records) / 4
    assert summary["overall"]["pass_at_k"] == pytest.approx(passes)
    assert "pass@3" in out and "need a call" in out


def test_eval_prompts_a_model_the_way_it_was_trained(tmp_path):
    from cluster.config import load_config, save_config
    from cluster.models.resolve import trained_prompt_style

    run = tmp_path / "runs" / "r1"
    (run / "checkpoints" / "step-000002").mkdir(parents=True)
    save_config(load_config("tiny"), run / "config.yaml")  # tiny trains with the signatures alone
    assert trained_prompt_style(str(run), "paper") == "signatures"
    assert trained_prompt_style(str(run / "checkpoints" / "step-000002"), "paper") == "signatures"
    save_config(load_config("smollm2-cpu", ["data.prompt_style=paper"]), run / "config.yaml")
    assert trained_prompt_style(str(run), "compact") == "paper"
    assert trained_prompt_style("tiny", "compact") == "compact"  # built and trained by this preset
    assert trained_prompt_style(str(tmp_path), "compact") == "paper"  # e.g. a pretrained model
    assert trained_prompt_style("smollm2-135m-instruct", "compact") == "paper"

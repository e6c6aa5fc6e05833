"""Observability: Ray metrics export, console progress, TensorBoard scalars and end-of-run plots."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.observe.metrics import MetricsLog
from cluster.observe.plots import plot_run, read_metrics, summary_lines
from cluster.observe.progress import StepProgress, detail_line, format_duration, phase
from cluster.observe.telemetry import GAUGES, Telemetry, metric_names, parse_prometheus, prometheus_name


def _step_metrics(step: int) -> dict:
    """A step's metrics dict as the driver builds it (keys of architecture.md and the learner)."""
    return {
        "reward/mean": 0.1 * step,
        "entropy/cot": 1.5 - 0.1 * step,
        "entropy/token": 2.0,
        "kl": 0.001 * step,
        "loss": 0.5,
        "grad_norm": 1.25,
        "lr": 1e-4,
        "adv/std": 0.9,
        "adv/bonus_mean": 0.02,
        "frac_zero_std_groups": 0.25,
        "time/step": 2.0 + step,
        "time/generate": 1.0,
        "time/score": 0.1,
        "time/train": 0.8 + step,
        "time/weight_sync": 0.05,
        "time/overhead": 0.05,
        "throughput/tokens_per_s": 1000.0 + step,
        "response_length/mean": 40.0,
        "tokens": 640.0,
        "pool/rollout_workers": 2,
        "policy_version": step,
        "policy/staleness": 0,
        "data/batch_digest": "abc123",
    }


# ----------------------------------------------------------------------------- metric names


def test_metric_names_are_prometheus_safe_and_unique():
    names = metric_names()
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"egpo_[a-z0-9_]+", name), name
    assert "egpo_reward_mean" in names and "egpo_eval_accuracy" in names and "egpo_cot_entropy" in names


def test_prometheus_name_of_metrics_keys():
    assert prometheus_name("time/weight_sync") == "time_weight_sync"
    assert prometheus_name("logprob_diff/sampler_vs_learner") == "logprob_diff_sampler_vs_learner"
    assert prometheus_name("9lives") == "m_9lives"


def test_telemetry_without_ray_does_nothing():
    """In a fresh process (this session may already have a cluster up): no error, no cluster started."""
    import subprocess
    import sys

    code = (
        "import ray\n"
        "from cluster.observe.telemetry import Telemetry\n"
        "t = Telemetry('offline')\n"
        "assert not t.enabled\n"
        "t.record(1, {'reward/mean': 0.5, 'time/step': 1.0})\n"
        "assert not ray.is_initialized()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


# ----------------------------------------------------------------------------- Ray metrics export


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _wait_for(port: int, name: str, run: str, timeout: float = 60.0) -> dict[str, list]:
    deadline = time.time() + timeout
    samples: dict[str, list] = {}
    while time.time() < deadline:
        samples = parse_prometheus(_scrape(port))
        if any(labels.get("run") == run for labels, _ in samples.get(name, [])):
            return samples
        time.sleep(1.0)
    raise AssertionError(f"{name}{{run={run!r}}} not exported within {timeout}s; have {sorted(samples)[:20]}")


def _value(samples, metric: str, run: str, **labels) -> float:
    values = [
        v
        for tags, v in samples.get(metric, [])
        if tags.get("run") == run and all(tags.get(k) == val for k, val in labels.items())
    ]
    assert values, f"no sample of {metric} with run={run} {labels}"
    return values[-1]


def test_step_metrics_reach_the_prometheus_export(ray_cluster):
    run = "telemetry-test"
    telemetry = Telemetry(run)
    assert telemetry.enabled
    telemetry.record(
        0, {"eval/accuracy": 0.25, "eval/count": 8, "eval/accuracy/simple": 0.5, "time/eval": 3.0}
    )
    telemetry.record(1, _step_metrics(1))
    telemetry.record(2, {**_step_metrics(2), "rollout/prefix_cache_hit": 0.75})

    port = ray_cluster.nodes()[0]["MetricsExportPort"]
    samples = _wait_for(port, "ray_egpo_policy_version", run)
    # Ray prefixes exported custom metrics with "ray_"; gauges hold the last step's values.
    assert _value(samples, "ray_egpo_reward_mean", run) == pytest.approx(0.2)
    assert _value(samples, "ray_egpo_kl", run) == pytest.approx(0.002)
    assert _value(samples, "ray_egpo_token_entropy", run) == pytest.approx(2.0)
    assert _value(samples, "ray_egpo_eval_accuracy", run) == pytest.approx(0.25)
    assert _value(samples, "ray_egpo_eval_accuracy_by_category", run, category="simple") == pytest.approx(0.5)
    assert _value(samples, "ray_egpo_phase_seconds", run, phase="train") == pytest.approx(2.8)
    assert _value(samples, "ray_egpo_policy_version", run) == 2
    assert _value(samples, "ray_egpo_step", run) == 2
    assert _value(samples, "ray_egpo_metric", run, name="rollout/prefix_cache_hit") == 0.75
    assert _value(samples, "ray_egpo_steps_total", run) == 2  # step 0 (evaluation only) is not a step
    assert _value(samples, "ray_egpo_tokens_total", run) == 1280
    assert _value(samples, "ray_egpo_step_seconds_count", run) == 2
    assert _value(samples, "ray_egpo_step_seconds_sum", run) == pytest.approx(7.0)


# ----------------------------------------------------------------------------- console


def test_step_line_is_concise_with_eta_and_verbose_adds_details():
    out = io.StringIO()
    progress = StepProgress(total=3, verbose=False, file=out, bars=False)
    for step in (1, 2, 3):
        progress.step_done(step, _step_metrics(step))
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # one line per step, no wall of logs
    assert lines[0].startswith("step 1/3 | reward 0.100 | H_cot 1.400 | kl 0.0010")
    assert "eta " in lines[0] and "eta " not in lines[2]  # nothing left after the last step

    out = io.StringIO()
    progress = StepProgress(total=3, verbose=True, file=out, bars=False)
    progress.step_done(1, _step_metrics(1))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "generate 1.00s" in lines[1] and "train 1.80s" in lines[1] and "grad_norm 1.250" in lines[1]


def test_eta_follows_the_pace_of_this_process():
    progress = StepProgress(total=10, start=4, file=io.StringIO(), bars=False)
    assert progress.eta(4) is None
    progress._started -= 6.0  # pretend 2 steps took 6 s
    assert progress.eta(6) == pytest.approx(12.0, rel=0.05)  # 4 steps left at 3 s each


def test_format_duration():
    assert format_duration(9.4) == "9s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m"


def test_detail_line_skips_missing_keys():
    line = detail_line({"time/generate": 1.0, "pool/rollout_workers": 3})
    assert "generate 1.00s" in line and "workers 3" in line and "learner" not in line


def test_multi_turn_steps_show_their_turns_on_the_console_and_the_dashboard():
    metrics = {
        "reward/mean": 0.25,
        "multiturn/turn_pass_rate": 0.5,
        "multiturn/turns_per_trajectory": 1.75,
        "multiturn/calls_per_turn": 1.2,
        "multiturn/env_errors": 0.5,
        "multiturn/observation_tokens": 840,
        "time/env": 0.02,
    }
    out = io.StringIO()
    StepProgress(total=2, verbose=True, file=out, bars=False).step_done(1, metrics)
    line, details = out.getvalue().splitlines()
    assert line.startswith("step 1/2 | reward 0.250 | turns_ok 0.50 | turns 1.8")
    assert "multi-turn: calls/turn 1.20 env_errors 0.50 obs_tokens 840 env 0.02s" in details
    for key in ("multiturn/success", "multiturn/turn_pass_rate", "multiturn/turns_per_trajectory",
                "multiturn/calls_per_turn", "multiturn/env_errors", "multiturn/observation_tokens"):  # fmt: skip
        assert GAUGES[key][0].startswith("egpo_multiturn_")


def test_phase_prints_one_summary_line_and_nothing_on_failure():
    out = io.StringIO()
    with phase("warm start", total=4, file=out, bars=False) as bar:
        for loss in (0.9, 0.7, 0.5, 0.4):
            bar.advance(info=f"loss {loss:.3f}")
    assert re.fullmatch(r"warm start: 4/4 steps in \d+s \(loss 0\.400\)\n", out.getvalue())

    out = io.StringIO()
    with phase("warm start", total=200, file=out, bars=False) as bar:
        for _ in range(200):
            bar.advance(info="loss 0.5")
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == [
        "warm start: 50/200 steps",
        "warm start: 100/200 steps",
        "warm start: 150/200 steps",
    ]
    assert "eta " in lines[0] and lines[3].startswith("warm start: 200/200 steps in ")

    out = io.StringIO()
    with pytest.raises(RuntimeError), phase("evaluation", total=8, unit="prompt", file=out, bars=False):
        raise RuntimeError("boom")
    assert out.getvalue() == ""


# ----------------------------------------------------------------------------- files


def _write_run(run_dir: Path, steps: int = 6) -> MetricsLog:
    log = MetricsLog(run_dir, tensorboard=True)
    log.log(0, {"eval/accuracy": 0.125, "eval/count": 8, "time/eval": 2.0})
    for step in range(1, steps + 1):
        metrics = _step_metrics(step)
        if step == steps:
            metrics.update({"eval/accuracy": 0.5, "eval/count": 8, "time/eval": 2.0})
        log.log(step, metrics)
    log.close()
    return log


def test_tensorboard_event_files_hold_the_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _write_run(tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    for key in ("reward/mean", "entropy/cot", "kl", "time/step", "throughput/tokens_per_s", "eval/accuracy"):
        assert key in tags, key
    reward = [(e.step, round(e.value, 6)) for e in events.Scalars("reward/mean")]
    assert reward == [(s, round(0.1 * s, 6)) for s in range(1, 7)]
    assert [(e.step, e.value) for e in events.Scalars("eval/accuracy")] == [(0, 0.125), (6, 0.5)]
    assert "data/batch_digest" not in tags  # strings stay in metrics.jsonl only


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plots_of_a_run(tmp_path):
    _write_run(tmp_path)
    paths = plot_run(tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "reward.png",
        "val_accuracy.png",
        "cot_entropy.png",
        "kl.png",
        "time_breakdown.png",
        "overview.png",
    ]
    for path in paths:
        assert path.parent == tmp_path / "plots"
        width, height = _png_size(path)
        assert width >= 800 and height >= 450

    import matplotlib.image

    pixels = matplotlib.image.imread(paths[0])
    assert pixels.std() > 0.05  # something is drawn, not a blank canvas
    lines = summary_lines(read_metrics(tmp_path / "metrics.jsonl"))
    assert "validation accuracy: 12.5% -> 50.0%" in lines
    assert "steps: 6" in lines


def test_plots_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 0, "eval/accuracy": 0.0}) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        plot_run(tmp_path)


def test_gauges_cover_the_architecture_metrics():
    for key in (
        "reward/mean",
        "entropy/cot",
        "kl",
        "throughput/tokens_per_s",
        "eval/accuracy",
        "policy_version",
    ):
        assert key in GAUGES

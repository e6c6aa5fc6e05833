"""A tiny training run submitted as a Ray job to a head node started with ``ray start``; our custom
metrics are read back from the head node's Prometheus export (README: "Submit to a Ray cluster").

The head node runs in its own temp dir on free ports, with token auth disabled (a local test
cluster); it is stopped at the end by signalling the ``ray start --block`` process this test
started, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.observe.telemetry import parse_prometheus
from tests.support.runs import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")

pytestmark = pytest.mark.slow


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class HeadNode:
    """``ray start --head --block`` on 127.0.0.1 with its own temp dir and free ports."""

    def __init__(self, env: dict[str, str]):
        self.temp_dir = tempfile.mkdtemp(prefix="egpo-ray-")  # short: Ray's socket paths must fit
        gcs, dashboard, metrics, agent, client = _free_ports(5)
        self.dashboard_url = f"http://127.0.0.1:{dashboard}"
        self.metrics_url = f"http://127.0.0.1:{metrics}/metrics"
        self.env = env
        self.log = open(Path(self.temp_dir) / "ray-start.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={gcs}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dashboard}",
                f"--metrics-export-port={metrics}",
                f"--dashboard-agent-listen-port={agent}",
                f"--ray-client-server-port={client}",
                "--num-cpus=2",
                f"--temp-dir={self.temp_dir}",
                "--disable-usage-stats",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends exactly what it started
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ray start exited with {self.process.returncode}:\n{self.logs()}")
            try:
                json.loads(_get(f"{self.dashboard_url}/api/version"))
                return
            except OSError:
                time.sleep(1.0)
        raise AssertionError(
            f"the dashboard at {self.dashboard_url} did not answer in {timeout}s:\n{self.logs()}"
        )

    def logs(self) -> str:
        self.log.flush()
        return (Path(self.temp_dir) / "ray-start.log").read_text()[-4000:]

    def stop(self) -> None:
        """SIGTERM to ``ray start --block`` shuts its node down; whatever survives in its process
        group after 60 s is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture
def head_node():
    env = dict(os.environ)
    env.update(
        {
            "RAY_AUTH_MODE": "disabled",  # local test cluster only; real clusters keep token auth
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` in the job = the venv's
            "HF_HUB_OFFLINE": "1",
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".cache" / "torch_extensions"),
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("RAY_ADDRESS", None)
    node = HeadNode(env)
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


def _job_status(node: HeadNode, job_id: str) -> str:
    return json.loads(_get(f"{node.dashboard_url}/api/jobs/{job_id}"))["status"]


def _job_logs(node: HeadNode, job_id: str) -> str:
    return json.loads(_get(f"{node.dashboard_url}/api/jobs/{job_id}/logs"))["logs"]


def _metric(text: str, name: str, run: str) -> float | None:
    values = [v for labels, v in parse_prometheus(text).get(name, []) if labels.get("run") == run]
    return values[-1] if values else None


def test_tiny_run_as_a_ray_job_exports_metrics(head_node, tmp_path):
    runs_dir = tmp_path / "runs"
    job_id = f"egpo-test-{os.getpid()}-{int(time.time())}"
    entrypoint = [
        "python",
        "launch.py",
        "train",
        "cluster.address=auto",
        "train.steps=2",
        "train.prompts_per_step=4",
        "rollout.group_size=2",
        "rollout.max_new_tokens=16",
        "learner.micro_batch_size=8",
        "model.warm_start_sft_steps=0",
        "algorithm.spread_filter_samples=0",
        "model.tiny_hidden_size=64",
        "model.tiny_num_heads=2",
        "model.tiny_num_kv_heads=1",
        "data.train_limit=2000",
        "train.eval_limit=8",
        # absolute paths: the job runs in Ray's copy of the working directory
        f"data.train_path={REPO_ROOT / 'data' / 'train.jsonl.gz'}",
        f"data.val_path={REPO_ROOT / 'data' / 'val.jsonl'}",
        f"logging.runs_dir={runs_dir}",
        "logging.run_name=job",
    ]
    submit = subprocess.run(
        [RAY, "job", "submit", "--address", head_node.dashboard_url, "--working-dir", str(REPO_ROOT)]
        + ["--submission-id", job_id, "--no-wait", "--", *entrypoint],
        env=head_node.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert submit.returncode == 0, submit.stdout + submit.stderr

    deadline = time.time() + 420
    status, scraped = "PENDING", ""
    while time.time() < deadline:
        status = _job_status(head_node, job_id)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(2.0)
    logs = _job_logs(head_node, job_id)
    assert status == "SUCCEEDED", f"job {job_id} ended {status}:\n{logs[-6000:]}"

    # The concise console: one line per step, and the end-of-run report.
    assert "step 1/2 | reward" in logs and "step 2/2 | reward" in logs, logs[-4000:]
    assert "Plots: " in logs
    run_dir = runs_dir / "job"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert (run_dir / "plots" / "overview.png").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    # The dashboard's actor list reads like the architecture.
    actors = json.loads(_get(f"{head_node.dashboard_url}/api/v0/actors?limit=200"))["data"]["result"][
        "result"
    ]
    names = {a.get("name") for a in actors}
    assert {"rollout-0", "reward-0", "learner-0"} <= names, sorted(n for n in names if n)

    # Our custom metrics on the head node's Prometheus export (Ray adds the "ray_" prefix).
    deadline = time.time() + 180  # the export lags on a loaded machine (60 s was once too short)
    steps = None
    while time.time() < deadline:
        scraped = _get(head_node.metrics_url)
        steps = _metric(scraped, "ray_egpo_steps_total", "job")
        if steps == 2 and _metric(scraped, "ray_egpo_reward_mean", "job") is not None:
            break
        time.sleep(2.0)
    assert steps == 2, [line for line in scraped.splitlines() if "egpo" in line][:20]
    assert _metric(scraped, "ray_egpo_reward_mean", "job") == pytest.approx(records[2]["reward/mean"])
    assert _metric(scraped, "ray_egpo_policy_version", "job") == 2
    assert _metric(scraped, "ray_egpo_eval_accuracy", "job") == pytest.approx(records[2]["eval/accuracy"])

"""model.path as a Hugging Face hub id: resolved once through huggingface_hub and its cache; without
network (and not cached) the run stops before any work with one line that names the id."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import REPO_ROOT, SMALL_RUN

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _env(hf_home: Path, offline: bool = True) -> dict[str, str]:
    env = {**os.environ, "HF_HOME": str(hf_home)}
    env.pop("HF_HUB_CACHE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env.pop("HF_HUB_OFFLINE", None)
    return env


def _cache_copy(hf_home: Path, repo_id: str, model_dir: Path) -> Path:
    """Lay ``model_dir`` out in the hub cache as ``repo_id`` at COMMIT, as a download would."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE=1", "no-network"])
def test_an_uncached_hub_id_without_network_fails_before_any_work_naming_the_id(tmp_path, offline):
    result = subprocess.run(
        [sys.executable, "launch.py", "train", "model.path=nobody-here/no-such-model",
         f"logging.runs_dir={tmp_path / 'runs'}", "logging.run_name=hub"],
        cwd=REPO_ROOT, env=_env(tmp_path / "hf", offline), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("launch.py:")]
    assert len(errors) == 1, result.stderr
    assert "model.path='nobody-here/no-such-model'" in errors[0]
    assert "set model.path=DIR" in errors[0] and str(tmp_path / "hf") in errors[0]
    assert "Ray dashboard" not in result.stdout and "Warm start" not in result.stdout


def test_a_cached_hub_id_resolves_to_its_snapshot_and_records_the_commit(tmp_path, tiny_model_dir):
    snapshot = _cache_copy(tmp_path / "hf", "acme/tiny-fc", tiny_model_dir)
    probe = (
        "import json; from cluster.config import ModelConfig; from cluster.models.resolve import resolve_model\n"
        "cfg = ModelConfig(path='acme/tiny-fc')\n"
        "print(json.dumps([str(resolve_model(cfg)), cfg.revision]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=_env(tmp_path / "hf"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    path, revision = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(path) == snapshot and revision == COMMIT


@pytest.mark.slow
def test_a_run_on_a_cached_hub_id_trains_and_saves_the_resolved_revision(tmp_path, tiny_model_dir):
    _cache_copy(tmp_path / "hf", "acme/tiny-fc", tiny_model_dir)
    runs = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "launch.py", "train", "model.path=acme/tiny-fc", "train.steps=1", *SMALL_RUN,
         "model.warm_start_sft_steps=0", f"logging.runs_dir={runs}", "logging.run_name=hub"],
        cwd=REPO_ROOT, env=_env(tmp_path / "hf"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    saved = (runs / "hub" / "config.yaml").read_text()
    assert "path: acme/tiny-fc" in saved and f"revision: {COMMIT}" in saved
    assert json.loads((runs / "hub" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 1

"""logging.wandb: an offline Weights & Biases run holds every metric of metrics.jsonl, the config and
the plots; a resumed run continues the same wandb run; without wandb installed the run stops first."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from cluster.config import ConfigError, load_config
from cluster.wandb_log import check_installed
from tests.conftest import REPO_ROOT, SMALL_RUN


def _train(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "launch.py", "train", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _records(data: bytes):
    """The records of a .wandb file: W&B's LevelDB-style log (7-byte header, 32 KiB blocks whose
    records carry a 7-byte header: CRC, length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4)."""
    block, pos, pending = 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's trailer too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0:  # zero padding up to the end of the block
            pos += block - pos % block if pos % block else 0
            continue
        pending += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            yield pending
            pending = b""


def _history(run_dir):
    """(run ids, step -> logged values, image keys) read back from the offline run files."""
    from wandb.proto import wandb_internal_pb2

    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert files, f"no offline wandb run under {run_dir}"
    run_ids, history, images = set(), {}, set()
    for path in files:
        for raw in _records(path.read_bytes()):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run_ids.add(record.run.run_id)
            elif kind == "history":
                items = {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item
                }
                if "_step" in items:
                    history.setdefault(items["_step"], {}).update(items)
                images |= {k.split("/")[0] + "/" + k.split("/")[1] for k in items if k.startswith("plots/")}
    return run_ids, history, images


@pytest.mark.slow
def test_an_offline_wandb_run_holds_the_metrics_and_a_resume_continues_it(tmp_path):
    pytest.importorskip("wandb")
    runs = tmp_path / "runs"
    common = [*SMALL_RUN, f"logging.runs_dir={runs}", "logging.run_name=wb", "logging.wandb=true"]
    _train(tmp_path, "train.steps=2", *common, "logging.wandb_tags=[ci,tiny]")
    run_dir = runs / "wb"
    run_id = (run_dir / "wandb_id").read_text().strip()
    ids, history, images = _history(run_dir)
    assert ids == {run_id}
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:  # every numeric value of every step, as written to metrics.jsonl
        numeric = {k: v for k, v in line.items() if k != "step" and isinstance(v, int | float)}
        assert numeric and all(history[line["step"]][k] == pytest.approx(v) for k, v in numeric.items())
    assert "plots/overview" in images

    _train(tmp_path, "--resume", str(run_dir), "train.steps=3")
    ids, history, _ = _history(run_dir)
    assert ids == {run_id} and 3 in history and "reward/mean" in history[3]


def test_wandb_on_without_the_package_stops_before_any_work(monkeypatch):
    cfg = load_config("tiny", ["logging.wandb=true"])
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now raises ImportError
    with pytest.raises(
        ConfigError,
        match=r"logging.wandb=true: the wandb package is not installed; run 'bash install.sh --wandb'",
    ):
        check_installed(cfg)
    check_installed(load_config("tiny", []))  # off: nothing to check

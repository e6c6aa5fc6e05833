"""The reader of W&B's offline run files: tests/e2e/test_loop.py checks with it that an offline run
holds every metric of metrics.jsonl and the plots, and that a resumed run continues the same run."""

from __future__ import annotations

import json
import struct


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


def wandb_history(run_dir):
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

"""The deterministic train/validation split (paper Sec. 5 holds out 5%).

Each sample goes to validation when a hash of its prompt (messages and tools) and the seed falls
below ``val_fraction``. The decision depends on nothing else, so it is stable when the file grows
or is reordered, and identical prompts always land on the same side.
"""

from __future__ import annotations

import hashlib
import json

from cluster.data.sample import Sample


def prompt_hash_fraction(sample: Sample, seed: int) -> float:
    """A number in [0, 1) fixed by the prompt's content and the seed."""
    content = json.dumps(sample.prompt_key(), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{seed}\n{content}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_samples(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Split into (train, val), keeping the input order within each side.

    The validation share is ``val_fraction`` in expectation (each prompt is decided on its own).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r}: expected a number strictly between 0 and 1")
    train: list[Sample] = []
    val: list[Sample] = []
    for sample in samples:
        (val if prompt_hash_fraction(sample, seed) < val_fraction else train).append(sample)
    return train, val

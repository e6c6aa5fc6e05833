"""The warm start's batches: seeded, every sample once per epoch, and length-sorted within a pool."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from cluster.warm_start import sft_batches


def padded_tokens(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_without_a_pool_batches_are_plain_seeded_random_order():
    lengths = list(range(40))
    got = list(itertools.islice(sft_batches(lengths, 8, seed=3), 5))
    assert [i for b in got for i in b] == torch.randperm(
        40, generator=torch.Generator().manual_seed(3)
    ).tolist()
    assert got == list(itertools.islice(sft_batches(lengths, 8, seed=3), 5))
    assert got != list(itertools.islice(sft_batches(lengths, 8, seed=4), 5))


def test_a_pool_sorts_by_length_within_it_and_keeps_every_sample_once_an_epoch():
    rng = random.Random(0)
    lengths = [rng.randint(60, 220) for _ in range(512)]
    plain = list(itertools.islice(sft_batches(lengths, 16, seed=0), 32))
    pooled = list(itertools.islice(sft_batches(lengths, 16, seed=0, pool=8), 32))
    assert sorted(i for b in pooled for i in b) == list(range(512))
    assert all(len(b) == 16 for b in pooled)
    assert padded_tokens(pooled, lengths) < 0.85 * padded_tokens(plain, lengths)
    # a pool of 8 batches is 128 samples: each batch's lengths lie within its pool's sorted run
    first_pool = pooled[:8]
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in first_pool)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:], strict=False))


def test_the_warm_start_reads_its_own_samples_when_data_warm_start_path_is_set(tmp_path):
    from cluster.config import load_config
    from cluster.data.feed import load_warm_start_samples

    assert load_warm_start_samples(load_config("tiny", [])) is None  # default: the training split
    cfg = load_config("tiny", ["data.warm_start_path=data/val.jsonl"])
    samples = load_warm_start_samples(cfg)
    assert samples and all(s.id.startswith("val-") for s in samples)
    missing = load_config("tiny", [f"data.warm_start_path={tmp_path / 'nope.jsonl'}"])
    with pytest.raises(ValueError, match="data.warm_start_path="):
        load_warm_start_samples(missing)

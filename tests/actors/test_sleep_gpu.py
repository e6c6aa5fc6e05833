"""cluster.mode=colocated on a GPU: the engine frees its memory for the learner's turn and samples
the same tokens after it wakes (skipped where there is no CUDA GPU)."""

from __future__ import annotations

import pytest

from actors.engine import RolloutEngine

pytestmark = pytest.mark.gpu


def test_sleep_frees_the_gpu_and_wake_up_samples_as_before(tiny_model_dir):
    engine = RolloutEngine(str(tiny_model_dir), gpu_memory_utilization=0.3, enable_sleep_mode=True)
    prompts = [[5, 6, 7, 8]]
    before = engine.generate(prompts, group_size=1, temperature=0.0, max_new_tokens=16)
    slept = engine.sleep()
    assert slept["freed_gib"] > 0.1 and slept["seconds"] > 0  # the KV cache at least
    assert engine.sleep() == {"seconds": 0.0, "freed_gib": 0.0}  # already asleep
    woke = engine.wake_up()
    assert woke["seconds"] > 0
    print(
        f"sleep {slept['seconds']:.3f} s frees {slept['freed_gib']:.2f} GiB; wake-up {woke['seconds']:.3f} s"
    )
    after = engine.generate(prompts, group_size=1, temperature=0.0, max_new_tokens=16)
    assert after[0][0]["token_ids"] == before[0][0]["token_ids"]
    engine.sleep()  # generate wakes a sleeping engine first
    assert (
        engine.generate(prompts, group_size=1, temperature=0.0, max_new_tokens=16)[0][0]["token_ids"]
        == before[0][0]["token_ids"]
    )

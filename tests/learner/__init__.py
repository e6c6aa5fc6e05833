"""Tests of learner/: EGPO's math, batching, the DeepSpeed learner actor, ZeRO, LoRA, the GPU savers."""

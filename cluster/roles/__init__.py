"""The Ray side of a run: bringing Ray up, the learner group, the rollout pool, the weight sync
between them, scaling the pool, and sizing what each role needs (KV cache, memory plan)."""

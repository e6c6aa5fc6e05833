"""Tests of actors/: the rollout worker on a real vLLM engine in a Ray actor."""

"""Tests of common/: the rollout batch that crosses from the driver to the learner."""

"""Tests of envs/: the BFCL multi-turn environment and the safety of the environment layer."""

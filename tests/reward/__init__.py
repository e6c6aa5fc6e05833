"""Tests of reward/: the completion grammar, the strict checker and its BFCL conformance, the reward pool."""

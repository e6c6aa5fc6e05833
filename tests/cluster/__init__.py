"""Tests of cluster/: config, driver step and pipeline, data, eval, roles, observe, models, synthetic."""

"""The driver (the single controller of architecture.md) and its wings.

At the top: the config (``config/``), the training run and its loop (``run.py``), one RL step
(``step.py``), the run directory (``rundir.py``), rollouts ahead of the learner (``pipeline.py``),
the supervised warm start (``warm_start.py``) and the spread filter (``spread_filter.py``). The
wings: ``data/`` (samples coming in), ``roles/`` (the Ray side), ``eval/``, ``models/``,
``observe/`` and ``synthetic/`` (the bundled task generator).
"""

"""Synthetic function-calling tasks for the embedded default (see ``cluster.synthetic.generate``)."""

from cluster.synthetic.generate import generate_split, write_jsonl

__all__ = ["generate_split", "write_jsonl"]

"""Evaluation: the validation split during training, `launch.py eval` on BFCL (single and
multi-turn), the call/no-call sides of a split, and the reports."""

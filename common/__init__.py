"""Tiny types shared by actors/, learner/ and reward/ (architecture.md allows one such module)."""

"""How the pools name the death of one of their actors in a console line or an error."""

from __future__ import annotations


def death_cause(error: BaseException) -> str:
    """``Type: first line of the message`` (Ray's actor-death errors run to many lines)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"

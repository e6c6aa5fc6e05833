"""The product's one console voice: ``say`` prints a line above any active progress bar.

It speaks on stdout, or on the stream ``speak_on`` sets for the whole process: ``launch.py eval``
keeps its stdout for the results and talks on stderr.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

_stream: TextIO | None = None


def speak_on(stream: TextIO | None) -> None:
    """Send every later ``say`` without an explicit ``file`` to ``stream`` (None: stdout)."""
    global _stream
    _stream = stream


def say(message: str, file: TextIO | None = None) -> None:
    """Print a message above any active progress bar (a plain print when there is none)."""
    stream = file or _stream or sys.stdout
    tqdm.write(message, file=stream)
    stream.flush()

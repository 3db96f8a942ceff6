"""Progress lines on stderr with the elapsed time, for the long steps of training."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``[  3.1s] message`` lines; ``Progress(quiet=True)`` prints nothing."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=self.stream, flush=True)

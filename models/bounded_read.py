"""Reading a file that someone else writes: only a regular file, and only up to a size.

A worker trusts the registry's writer to sign models, not to stall it. ``CURRENT`` replaced by a
FIFO that nothing wrote to held every worker's event loop (its registry timer reads the pointer
there) for as long as it stayed: no decisions, ``/health`` unanswered. One linked to
``/dev/zero`` would be read until memory ran out. A file is opened without blocking and checked
with ``fstat`` before a byte of it is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``; ``OSError`` for anything else (a FIFO, a
    device, a folder) or for a file over ``limit`` bytes. ``FileNotFoundError`` as ``open``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew after fstat
                raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
    finally:
        os.close(fd)
    return b"".join(chunks)

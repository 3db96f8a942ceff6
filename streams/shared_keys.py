"""Shared HMAC keys, given in a setting or in a file a setting names (a mounted secret)."""

from __future__ import annotations

from pathlib import Path

from models.bounded_read import read_bounded

# a key file is a few dozen bytes; anything larger (or a FIFO, a device) is not one
MAX_KEY_FILE_BYTES = 64 * 1024


class SharedKeyError(ValueError):
    """A shared key is configured but cannot be used (each key's own error subclasses this)."""


def read_shared_key(value: str, path: str, name: str, error: type[ValueError]) -> bytes | None:
    """The key ``value``, or the stripped contents of the file at ``path``; None when neither is
    set. ``name`` is the setting's environment name, for the ``error`` raised when the file
    cannot be read or is empty."""
    if value:
        return value.encode()
    if not path:
        return None
    try:  # bounded: a FIFO named by mistake blocked forever, a directory raised a traceback
        key = read_bounded(Path(path), MAX_KEY_FILE_BYTES).strip()
    except OSError as exc:
        msg = f"cannot read {name}_FILE={path}: {exc.strerror or exc}"
        raise error(msg) from exc
    if not key:
        msg = f"{name}_FILE={path} is empty"
        raise error(msg)
    return key


def read_accepted_key(
    value: str, path: str, name: str, error: type[ValueError], *, has_key: bool
) -> bytes | None:
    """A rotation's second key (``{name}_ACCEPTED`` or its ``_FILE``), whose signatures verify
    but which never signs; None when neither is set. Refused without a key of its own
    (``has_key``): a service that signs and checks nothing has nothing to rotate."""
    accepted = read_shared_key(value, path, f"{name}_ACCEPTED", error)
    if accepted is not None and not has_key:
        msg = f"{name}_ACCEPTED is set without {name} (or _FILE)"
        raise error(msg)
    return accepted

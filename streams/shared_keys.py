"""Shared HMAC keys, given in a setting or in a file a setting names (a mounted secret)."""

from __future__ import annotations

from pathlib import Path


def read_shared_key(value: str, path: str, name: str, error: type[ValueError]) -> bytes | None:
    """The key ``value``, or the stripped contents of the file at ``path``; None when neither is
    set. ``name`` is the setting's environment name, for the ``error`` raised when the file
    cannot be read or is empty."""
    if value:
        return value.encode()
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        msg = f"cannot read {name}_FILE={path}: {exc}"
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

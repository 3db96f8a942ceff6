"""Ed25519 signatures over model versions: who may make a model servable.

The sha256 in ``metadata.json`` only proves the joblib matches the metadata beside it; whoever
can write the registry can write both. A signature made at promotion with a private key kept
outside the registry covers that sha256 and the metadata that shapes decisions (version, labels,
thresholds), so a worker holding only the public key can refuse a version nobody with the
private key vouched for, before a single byte of the pickle is loaded.

A version folder carries its signature in ``signature.json``: the algorithm, the id of the key
(first 16 hex digits of the sha256 of the raw public key, so a mismatch says which key signed)
and the base64 signature of :func:`signed_payload`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from models.bounded_read import read_bounded
from models.errors import SignatureInvalid, SignatureMissing, SigningKeyError
from models.version_folder import SIGNATURE_FILE, VersionFolder

ALGORITHM = "Ed25519"
MAX_SIGNATURE_BYTES = 65_536  # one signature record is under 1 KB
KEYS_HINT = (
    "create a key pair with `chatguard keys init`, sign with the private key at promotion "
    "(CHATGUARD_MODEL_SIGNING_KEY) and give workers the public key (CHATGUARD_MODEL_PUBLIC_KEY)"
)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_payload(meta: Mapping[str, Any]) -> bytes:
    """The canonical bytes a signature covers: the joblib's sha256 and what decides with it."""
    covered = {
        "format_version": meta.get("format_version"),
        "version": meta.get("version"),
        "sha256": meta.get("sha256"),
        "labels": meta.get("labels"),
        "thresholds": meta.get("thresholds"),
    }
    return json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(directory: Path, meta: Mapping[str, Any], private_key: Ed25519PrivateKey) -> None:
    """Write ``signature.json`` into a version folder (replacing one made by another key)."""
    directory = Path(directory)
    record = {
        "algorithm": ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(signed_payload(meta))).decode(),
    }
    fd, tmp = tempfile.mkstemp(prefix=".signature.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=2) + "\n")
        os.chmod(tmp, 0o444)
        os.replace(tmp, VersionFolder(directory).signature)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify(directory: Path, meta: Mapping[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raise unless ``directory``'s signature is ``public_key``'s over ``meta``'s covered fields.

    Called before the joblib is read, let alone unpickled.
    """
    directory = Path(directory)
    path = VersionFolder(directory).signature
    try:
        record = json.loads(read_bounded(path, MAX_SIGNATURE_BYTES))
    except FileNotFoundError as exc:
        msg = f"model version {directory.name} is not signed (no {SIGNATURE_FILE}); refusing it"
        raise SignatureMissing(msg) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"model version {directory.name}: {SIGNATURE_FILE} is unreadable ({exc}); refusing it"
        raise SignatureInvalid(msg) from exc
    if meta.get("version") != directory.name:
        msg = (
            f"model version folder {directory.name} holds metadata of version "
            f"{meta.get('version')!r}; refusing it"
        )
        raise SignatureInvalid(msg)
    expected = key_id(public_key)
    try:
        if record["algorithm"] != ALGORITHM:
            msg = f"algorithm {record['algorithm']!r}, not {ALGORITHM}"
            raise ValueError(msg)
        signature = base64.b64decode(record["signature"], validate=True)
        public_key.verify(signature, signed_payload(meta))
    except (InvalidSignature, KeyError, TypeError, ValueError) as exc:
        signer = record.get("key_id") if isinstance(record, dict) else None
        detail = (
            f"signed by key {signer}, workers trust key {expected}"
            if signer != expected
            else "the signature does not match its model file hash and metadata"
        )
        msg = f"model version {directory.name} has a bad signature ({detail}); refusing it"
        raise SignatureInvalid(msg) from exc


def generate(private_path: Path, public_path: Path) -> Ed25519PublicKey:
    """Write a new key pair: the private key mode 0600, never over an existing file."""
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            msg = f"{path} already exists; keys are never overwritten (move it away first)"
            raise SigningKeyError(msg)
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    # created 0600 from the start: no moment where another user could read it
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_key.public_key()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at ``path``; a clear error if there is none."""
    key = _load(Path(path), private=True)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The verification key at ``path``; a clear error if there is none."""
    key = _load(Path(path), private=False)
    assert isinstance(key, Ed25519PublicKey)
    return key


def _load(path: Path, *, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    kind = "signing (private)" if private else "verification (public)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"no model {kind} key at {path} ({exc.strerror}); {KEYS_HINT}"
        raise SigningKeyError(msg) from exc
    try:
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (ValueError, TypeError) as exc:
        msg = f"{path} is not a PEM {kind} key: {exc}"
        raise SigningKeyError(msg) from exc
    wanted = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, wanted):
        msg = f"{path} holds a {type(key).__name__}, not an Ed25519 {kind} key"
        raise SigningKeyError(msg)
    return key


def sign_payload(payload: bytes, private_key: Ed25519PrivateKey) -> dict[str, str]:
    """A detached signature over ``payload`` (what a rules record carries), in the form of
    ``signature.json``."""
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(payload)).decode(),
    }


def verify_payload(what: str, record: object, payload: bytes, public_key: Ed25519PublicKey) -> None:
    """Raise unless ``record`` (from :func:`sign_payload`) is ``public_key``'s signature over
    ``payload``; ``what`` names the signed thing in the message."""
    if not record:
        msg = f"{what} is not signed; refusing it"
        raise SignatureMissing(msg)
    expected = key_id(public_key)
    signer = record.get("key_id") if isinstance(record, dict) else None
    try:
        if not isinstance(record, dict) or record.get("algorithm") != ALGORITHM:
            msg = f"not an {ALGORITHM} signature"
            raise ValueError(msg)
        public_key.verify(base64.b64decode(record["signature"], validate=True), payload)
    except (InvalidSignature, KeyError, TypeError, ValueError) as exc:
        detail = (
            f"signed by key {signer}, workers trust key {expected}"
            if signer != expected
            else "the signature does not match its content"
        )
        msg = f"{what} has a bad signature ({detail}); refusing it"
        raise SignatureInvalid(msg) from exc

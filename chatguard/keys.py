"""``chatguard keys init | sign``: the Ed25519 key pair that decides which models workers load.

The private key stays with whoever promotes models (never in the registry, never on workers);
workers get only the public key. See ``models.signing`` for what a signature covers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="model signing keys (Ed25519)")
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create a key pair (private key mode 0600)")
    init.add_argument(
        "--private",
        type=Path,
        default=None,
        help="private key file (default: CHATGUARD_MODEL_SIGNING_KEY or keys/model-signing.key)",
    )
    init.add_argument(
        "--public",
        type=Path,
        default=None,
        help="public key file (default: CHATGUARD_MODEL_PUBLIC_KEY or keys/model-signing.pub)",
    )
    init.set_defaults(handler=_init)
    sign = actions.add_parser(
        "sign",
        help="sign a version already in the registry (e.g. promoted before keys existed)",
    )
    sign.add_argument("version", nargs="?", default=None, help="default: the current version")
    sign.add_argument("--registry", type=Path, default=None, help="default: CHATGUARD_REGISTRY")
    sign.set_defaults(handler=_sign)


def _init(args: argparse.Namespace) -> int:
    from chatguard.settings import Settings
    from models.errors import ModelError
    from models.signing import generate, key_id

    settings = Settings.from_env()
    private = args.private or settings.model_signing_key
    public = args.public or settings.model_public_key
    try:
        public_key = generate(private, public)
    except ModelError as exc:
        print(f"chatguard keys init: {exc}", file=sys.stderr)
        return 1
    print(f"key {key_id(public_key)}: private {private} (keep it where models are promoted)")
    print(f"public {public} (give it to workers as CHATGUARD_MODEL_PUBLIC_KEY)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from chatguard.settings import Settings
    from models.errors import ModelError
    from models.registry import ModelRegistry
    from models.signing import load_private_key

    settings = Settings.from_env()
    registry = ModelRegistry(args.registry or settings.registry)
    try:
        version = args.version or registry.current_version()
        if version is None:
            print("chatguard keys sign: the registry has no current version", file=sys.stderr)
            return 1
        registry.sign(version, load_private_key(settings.model_signing_key))
    except ModelError as exc:
        print(f"chatguard keys sign: {exc}", file=sys.stderr)
        return 1
    print(f"{version} signed")
    return 0

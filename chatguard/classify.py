"""``chatguard classify``: score messages with a model version and the policy, as a worker would.

For trying a model by hand or in a script: the registry's current (or a named) version through
``models.registry`` and ``models.policy``, nothing from training. It checks the sha256 but not
the signature (see the threat model in docs/operations.md). scikit-learn is imported inside the
handler so ``chatguard --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from models.errors import ModelError, UnreadableMessages

BATCH = 256


def add_commands(subparsers: Any) -> None:
    """Register ``classify`` on the ``chatguard`` parser."""
    help_ = "Score messages with the current model and policy."
    p = subparsers.add_parser("classify", help=help_, description=help_)
    p.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="model registry directory (default: CHATGUARD_REGISTRY or ./registry)",
    )
    p.add_argument("text", nargs="*", help="messages (default: one per line on stdin)")
    p.add_argument("--file", type=Path, default=None, help="JSONL file with a 'text' per row")
    p.add_argument("--source", default=None, help="source for the policy, e.g. post:ad")
    p.add_argument(
        "--policy", default=None, help="policy overrides JSON (default: CHATGUARD_POLICY_FILE)"
    )
    p.add_argument("--model", default=None, help="version to use instead of the current one")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also the words that raised each message's top category most (each left out in "
        "turn and the message scored again)",
    )
    p.set_defaults(handler=_guarded(_classify))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A model error (no current model, a bad messages file) is one line on stderr, exit 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ModelError as exc:
            print(f"chatguard {args.command}: {exc}", file=sys.stderr)
            return 1

    return run


def _classify(args: argparse.Namespace) -> int:
    from chatguard.settings import Settings
    from models.policy import Policy
    from models.registry import ModelRegistry

    settings = Settings.from_env()
    registry = ModelRegistry(args.registry if args.registry is not None else settings.registry)
    loaded = registry.load(args.model) if args.model else registry.load_current()
    policy_file = args.policy if args.policy is not None else settings.policy_file
    policy = Policy.from_model(loaded, policy_file or None)
    for batch in _batches(_messages(args)):
        texts = [text for text, _ in batch]
        sources = [source or args.source for _, source in batch]
        scores = loaded.score(texts)
        for text, source, row, verdict in zip(
            texts,
            sources,
            scores,
            policy.decide_messages(scores, texts, sources),
            strict=True,
        ):
            if args.json:
                record = {
                    "text": text,
                    "source": source,
                    "scores": {
                        label: round(float(s), 4)
                        for label, s in zip(loaded.labels, row, strict=True)
                    },
                    "action": verdict.action,
                    "triggered": list(verdict.triggered),
                    "reasons": list(verdict.reasons),
                    "model_version": loaded.version,
                    "policy_version": policy.version,
                }
                if args.explain:
                    record["explanation"] = _explanation(loaded, text, row)
                print(json.dumps(record, ensure_ascii=False))
            else:
                shown = "  ".join(
                    f"{label} {s:.2f}" for label, s in zip(loaded.labels, row, strict=True)
                )
                preview = text if len(text) <= 60 else text[:57] + "..."
                print(f"{verdict.action:<6}  {shown}  | {preview}")
                for reason in verdict.reasons:
                    print(f"        {reason}")
                if args.explain:
                    explained = _explanation(loaded, text, row)
                    words = ", ".join(f"{w['word']} {w['effect']:+.2f}" for w in explained["words"])
                    print(f"        words raising {explained['category']}: {words or 'none'}")
    return 0


def _explanation(loaded: Any, text: str, row: Any) -> dict[str, Any]:
    """The top category and the words that raised its score most (``models.explain``)."""
    from models.explain import strongest, word_effects

    top = int(row.argmax())
    effects = strongest(word_effects(loaded, text, top))
    return {
        "category": loaded.labels[top],
        "words": [{"word": e.word, "effect": round(e.effect, 4)} for e in effects],
    }


def _messages(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    """Each message to score with its source; :class:`UnreadableMessages` naming the file and
    line (or the message's number) for what cannot be read or is longer than a worker scores:
    a 21 MB line took 3.5 GB before it failed."""
    from chatguard.settings import Settings

    limit = Settings.from_env().max_text_chars
    for where, text, source in _read(args):
        if len(text) > limit:
            msg = f"{where}: {len(text)} characters; a worker scores at most {limit}"
            raise UnreadableMessages(msg)
        # a lone surrogate (JSON may escape one) is no character: shown and written as U+FFFD,
        # as the worker reads it
        yield _LONE_SURROGATE.sub("\ufffd", text), source


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _read(args: argparse.Namespace) -> Iterator[tuple[str, str, str | None]]:
    """``(where, text, source)`` of each message, ``where`` as an error names it."""
    if args.text:
        for number, text in enumerate(args.text, start=1):
            yield f"message {number}", text, None
        return
    if args.file is not None:
        if not args.file.is_file():
            msg = f"{args.file}: file does not exist"
            raise UnreadableMessages(msg)
        with args.file.open("rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                yield from _row(args.file, line_no, raw)
        return
    for line_no, line in enumerate(sys.stdin, start=1):
        text = line.rstrip("\n")
        if text.strip():
            yield f"stdin line {line_no}", text, None


def _row(path: Path, line_no: int, raw: bytes) -> Iterator[tuple[str, str, str | None]]:
    """One JSONL line's message, or :class:`UnreadableMessages` naming the file and line."""
    try:
        line = raw.decode("utf-8")
        if not line.strip():
            return
        row = json.loads(line)
    except UnicodeDecodeError as exc:
        msg = f"{path}:{line_no}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        raise UnreadableMessages(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{path}:{line_no}: malformed JSON: {exc.msg}"
        raise UnreadableMessages(msg) from exc
    except (ValueError, RecursionError) as exc:  # a number of 5,000 digits, 100,000 nested lists
        msg = f"{path}:{line_no}: unreadable JSON: {type(exc).__name__}"
        raise UnreadableMessages(msg) from exc
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        msg = f"{path}:{line_no}: each row needs a string 'text'"
        raise UnreadableMessages(msg)
    source = row.get("source")
    yield f"{path}:{line_no}", row["text"], source if isinstance(source, str) else None


def _batches(items: Iterator[tuple[str, str | None]]) -> Iterator[list[tuple[str, str | None]]]:
    batch: list[tuple[str, str | None]] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch

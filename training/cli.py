"""``chatguard train | evaluate | promote | rollback | models | classify``.

Heavy imports (scikit-learn, matplotlib) happen inside the handlers so ``chatguard --help`` stays
fast. Errors the user can fix (a bad data file, a refused promotion, no current model) print one
clear line on stderr and exit with status 1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BATCH = 256


def add_commands(subparsers: Any) -> None:
    """Register this package's subcommands on the ``chatguard`` parser."""

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> Any:
        parser = subparsers.add_parser(name, help=help_, description=help_)
        parser.add_argument(
            "--registry",
            type=Path,
            default=None,
            help="model registry directory (default: CHATGUARD_REGISTRY or ./registry)",
        )
        parser.set_defaults(handler=_guarded(handler))
        return parser

    p = command("train", _train, "Train a model version from labelled JSONL/CSV files.")
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="labelled data file (repeatable; default: the bundled seed corpus)",
    )
    p.add_argument(
        "--promote",
        action="store_true",
        help="make it current if there is none or it passes the promotion gate",
    )
    p.add_argument(
        "--taxonomy",
        default=None,
        help="comma-separated allowed categories; any other label is an error",
    )
    p.add_argument("--seed", type=int, default=13, help="split seed (default 13)")
    p.add_argument(
        "--target-precision",
        type=float,
        default=0.98,
        help="precision the block threshold must reach on validation (default 0.98)",
    )
    p.add_argument(
        "--target-recall",
        type=float,
        default=0.90,
        help="recall the review threshold must keep on validation (default 0.90)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="classifier hyperparameter, e.g. --param C=1.0 (repeatable)",
    )
    p.add_argument(
        "--exclude-moderator",
        action="append",
        default=[],
        metavar="ID",
        help="leave out rows labelled by this moderator (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = command("evaluate", _evaluate, "Evaluate a model version on labelled data.")
    p.add_argument("version", help="version name (see `chatguard models`) or 'current'")
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE")
    p.add_argument(
        "--out", type=Path, default=None, help="report directory (default: evaluation/<version>)"
    )

    p = command("promote", _promote, "Make a version current if it passes the gate.")
    p.add_argument("version")
    p.add_argument("--force", action="store_true", help="promote even if the gate refuses")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="FILE",
        help="labelled rows for the gate (default: held-out rows neither model saw)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="how much worse per category and metric is still accepted (default 0.02)",
    )

    command("rollback", _rollback, "Make the previously promoted version current again.")
    command("models", _models, "List model versions; * marks the current one.")

    p = command("classify", _classify, "Score messages with the current model and policy.")
    p.add_argument("text", nargs="*", help="messages (default: one per line on stdin)")
    p.add_argument("--file", type=Path, default=None, help="JSONL file with a 'text' per row")
    p.add_argument("--source", default=None, help="source for the policy, e.g. post:ad")
    p.add_argument(
        "--policy", default=None, help="policy overrides JSON (default: CHATGUARD_POLICY_FILE)"
    )
    p.add_argument("--model", default=None, help="version to use instead of the current one")
    p.add_argument("--json", action="store_true", help="one JSON object per message")


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from models.errors import ModelError
        from training.errors import TrainingError

        try:
            return handler(args)
        except (ModelError, TrainingError) as exc:
            print(f"chatguard {args.command}: {exc}", file=sys.stderr)
            return 1

    return run


def _registry(args: argparse.Namespace) -> Any:
    from chatguard.settings import Settings
    from models.registry import ModelRegistry

    root = args.registry if args.registry is not None else Settings.from_env().registry
    return ModelRegistry(root)


def _signing_key() -> Ed25519PrivateKey:
    """The promoter's private key (``CHATGUARD_MODEL_SIGNING_KEY``); promotion signs with it."""
    from chatguard.settings import Settings
    from models.signing import load_private_key

    return load_private_key(Settings.from_env().model_signing_key)


def _train(args: argparse.Namespace) -> int:
    from training.errors import PromotionRefused, TrainingError
    from training.progress import Progress
    from training.promote import promote
    from training.train import TrainConfig, train_files

    params: dict[str, Any] = {}
    for item in args.param:
        name, sep, raw = item.partition("=")
        try:
            value = json.loads(raw) if sep else None
        except json.JSONDecodeError as exc:
            msg = f'--param {item!r}: the value must be JSON (e.g. 1.0, "svm", [1, 2])'
            raise TrainingError(msg) from exc
        params[name] = tuple(value) if isinstance(value, list) else value
    config = TrainConfig(
        seed=args.seed,
        target_precision=args.target_precision,
        target_recall=args.target_recall,
        params=params,
    )
    taxonomy = [t.strip() for t in args.taxonomy.split(",")] if args.taxonomy else None
    registry = _registry(args)
    # promotion signs: without a key, fail before spending minutes on training
    signing_key = _signing_key() if args.promote else None
    progress = Progress(quiet=args.quiet)
    try:
        version, result = train_files(
            args.data,
            registry,
            config,
            taxonomy=taxonomy,
            progress=progress,
            exclude_moderators=args.exclude_moderator,
        )
    except (TypeError, ValueError) as exc:  # bad --param names or values, bad fractions
        msg = f"cannot train: {exc}"
        raise TrainingError(msg) from exc
    print(_metrics_table(result.test.metrics))
    print(f"version {version} in {registry.root}")
    if args.promote:
        try:
            assert signing_key is not None
            gate = promote(registry, version, signing_key=signing_key)
        except PromotionRefused as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(gate.summary())
        print(f"{version} is now current")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_rows, write_report
    from training.labelled_data import read_many

    registry = _registry(args)
    version = registry.current_version() if args.version == "current" else args.version
    loaded = registry.load(version) if version else registry.load_current()
    rows = read_many(args.data)
    evaluation = evaluate_rows(loaded.version, loaded.labels, loaded.score, rows, loaded.thresholds)
    out = args.out or Path("evaluation") / loaded.version
    written = write_report(evaluation, out, title=f"{loaded.version} on {len(rows)} rows")
    print(_metrics_table(evaluation.metrics))
    print(f"report: {', '.join(str(p) for p in written[:2])} (+{len(written) - 2} PR curves)")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from training.promote import promote

    registry = _registry(args)
    result = promote(
        registry,
        args.version,
        signing_key=_signing_key(),
        force=args.force,
        data=args.data,
        tolerance=args.tolerance,
    )
    print(result.summary())
    if not result.passed:
        print("gate failed; promoted because of --force", file=sys.stderr)
    print(f"{args.version} is now current")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    registry = _registry(args)
    version = registry.rollback()
    print(f"{version} is now current")
    return 0


def _models(args: argparse.Namespace) -> int:
    registry = _registry(args)
    current = registry.current_version()
    versions = registry.versions()
    if not versions:
        print(f"no model versions in {registry.root}; run `chatguard train`")
        return 0
    for version in versions:
        meta = registry.metadata(version)
        test = meta.get("metrics", {}).get("test", {})
        aucs = [m["pr_auc"] for m in test.values() if m.get("pr_auc") is not None]
        mean = f"mean PR-AUC {sum(aucs) / len(aucs):.3f}" if aucs else ""
        mark = "*" if version == current else " "
        labels = ",".join(meta["labels"])
        print(f"{mark} {version}  {meta.get('created_at', '')}  {labels}  {mean}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from chatguard.settings import Settings
    from models.policy import Policy

    registry = _registry(args)
    loaded = registry.load(args.model) if args.model else registry.load_current()
    policy_file = args.policy if args.policy is not None else Settings.from_env().policy_file
    policy = Policy.from_model(loaded, policy_file or None)
    for batch in _batches(_messages(args)):
        texts = [text for text, _ in batch]
        sources = [source or args.source for _, source in batch]
        scores = loaded.score(texts)
        for text, source, row, verdict in zip(
            texts, sources, scores, policy.decide_batch(scores, sources), strict=True
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
                print(json.dumps(record, ensure_ascii=False))
            else:
                shown = "  ".join(
                    f"{label} {s:.2f}" for label, s in zip(loaded.labels, row, strict=True)
                )
                preview = text if len(text) <= 60 else text[:57] + "..."
                print(f"{verdict.action:<6}  {shown}  | {preview}")
                for reason in verdict.reasons:
                    print(f"        {reason}")
    return 0


def _messages(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    from training.errors import LabelledDataError

    if args.text:
        for text in args.text:
            yield text, None
        return
    if args.file is not None:
        if not args.file.is_file():
            msg = f"{args.file}: file does not exist"
            raise LabelledDataError(msg)
        with args.file.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    msg = f"{args.file}:{line_no}: malformed JSON: {exc.msg}"
                    raise LabelledDataError(msg) from exc
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    msg = f"{args.file}:{line_no}: each row needs a string 'text'"
                    raise LabelledDataError(msg)
                source = row.get("source")
                yield row["text"], source if isinstance(source, str) else None
        return
    for line in sys.stdin:
        text = line.rstrip("\n")
        if text.strip():
            yield text, None


def _batches(items: Iterator[tuple[str, str | None]]) -> Iterator[list[tuple[str, str | None]]]:
    batch: list[tuple[str, str | None]] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _metrics_table(metrics: Any) -> str:
    lines = [
        f"{'category':<10} {'pos':>4} {'PR-AUC':>7} {'P@rev':>6} {'R@rev':>6} "
        f"{'F1@rev':>6} {'P@blk':>6} {'R@blk':>6}"
    ]
    for label, m in metrics.items():
        r, b = m["review"], m["block"]
        auc = m["pr_auc"]
        auc_text = "n/a" if auc != auc else f"{auc:.3f}"
        lines.append(
            f"{label:<10} {m['positives']:>4} {auc_text:>7} {r['precision']:>6.3f} "
            f"{r['recall']:>6.3f} {r['f1']:>6.3f} {b['precision']:>6.3f} {b['recall']:>6.3f}"
        )
    return "\n".join(lines)

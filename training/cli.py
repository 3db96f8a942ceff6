"""``chatguard train | evaluate | promote | rollback | models | datasets``.

Heavy imports (scikit-learn, matplotlib) happen inside the handlers so ``chatguard --help`` stays
fast. Errors the user can fix (a bad data file, a refused promotion, no current model) print one
clear line on stderr and exit with status 1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def add_commands(subparsers: Any) -> None:
    """Register this package's subcommands on the ``chatguard`` parser."""
    from training.thresholds import Budget  # numpy: only where commands are registered

    budget = Budget()  # the threshold options' defaults

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
        help="labelled data file (repeatable; default: the bundled seed and clean chat corpus); "
        "with --recipe, trained on beside the recipe's rows (e.g. the moderator label store)",
    )
    p.add_argument(
        "--recipe",
        choices=("default", "seed"),
        default=None,
        help="train on a named recipe (and any --data files): default = seed + clean corpus + "
        "every available catalogued public set; seed = the seed corpus alone",
    )
    p.add_argument(
        "--datasets",
        type=Path,
        default=None,
        metavar="DIR",
        help="local mirror of public sets (NAME/data.jsonl) to import missing ones from "
        "(default: ../shared/datasets next to the project, if present)",
    )
    p.add_argument(
        "--commercial-only",
        action="store_true",
        help="with --recipe default: only public sets whose licence allows commercial use",
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
        "--final-fit",
        action="store_true",
        help="hold no test split out: fit the served model on every row (out-of-fold figures)",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validation folds for out-of-fold scores (default: the recipe's, 5 for "
        "--recipe default; else 3)",
    )
    p.add_argument(
        "--target-precision",
        type=float,
        default=None,
        help="precision a block threshold needs, out of fold (0.5-1; default: the recipe's, "
        f"0.995 for --recipe default; else {budget.block_precision})",
    )
    p.add_argument(
        "--block-support",
        type=int,
        default=None,
        help="positives a block threshold needs above it, out of fold (default: the recipe's, "
        f"300 for --recipe default; else {budget.block_support}: fewer, the category only reviews)",
    )
    p.add_argument(
        "--target-recall",
        type=float,
        default=0.80,
        help="warn when review recall within the clean budget is below this (0-1, default 0.8)",
    )
    p.add_argument(
        "--block-clean-rate",
        type=float,
        default=budget.block_clean_rate,
        help="share of clean traffic a category may block (default %(default)s)",
    )
    p.add_argument(
        "--review-clean-rate",
        type=float,
        default=budget.review_clean_rate,
        help="share of everyday clean traffic sent to review (default %(default)s)",
    )
    p.add_argument(
        "--review-hard-negative-rate",
        type=float,
        default=budget.review_hard_negative_rate,
        help="share of hard-negative rows (kind hard_negative) sent to review "
        "(default %(default)s)",
    )
    p.add_argument(
        "--review-public-rate",
        type=float,
        default=budget.review_public_rate,
        help="share of the public sets' harmless rows (ham, tweets that are not hate) sent to "
        "review, counted where a category knows them (default %(default)s)",
    )
    p.add_argument(
        "--chat-weight",
        type=float,
        default=4.0,
        help="weight of fully labelled rows (seed, clean corpus) against public-set rows "
        "(default 4)",
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

    p = subparsers.add_parser(
        "datasets",
        help="Public labelled sets: list the catalogue, fetch or import them into the cache.",
        description="Public labelled sets: list the catalogue, fetch or import them into the cache.",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache directory (default: ~/.cache/chatguard/datasets)",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every catalogued set: licence, cached or not, source")
    fetch = actions.add_parser("fetch", help="download sets from their source (needs internet)")
    fetch.add_argument("names", nargs="*", help="set names (default: all)")
    imp = actions.add_parser(
        "import", help="copy sets from a local mirror laid out NAME/data.jsonl"
    )
    imp.add_argument("mirror", type=Path, metavar="DIR")
    imp.add_argument("names", nargs="*", help="set names (default: every one the mirror holds)")
    p.set_defaults(handler=_guarded(_datasets))

    command("rollback", _rollback, "Make the previously promoted version current again.")
    command("models", _models, "List model versions; * marks the current one.")


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
    try:
        config = TrainConfig(
            seed=args.seed,
            # None: TrainConfig's own (the recipe's, below, for --recipe)
            **{name: value for name, value in _recipe_settings(args).items() if value is not None},
            target_recall=args.target_recall,
            block_clean_rate=args.block_clean_rate,
            review_clean_rate=args.review_clean_rate,
            review_hard_negative_rate=args.review_hard_negative_rate,
            review_public_rate=args.review_public_rate,
            chat_weight=args.chat_weight,
            final_fit=args.final_fit,
            params=params,
        )
    except ValueError as exc:
        msg = f"cannot train: {exc}"
        raise TrainingError(msg) from exc
    taxonomy = [t.strip() for t in args.taxonomy.split(",")] if args.taxonomy else None
    registry = _registry(args)
    # promotion signs: without a key, fail before spending minutes on training
    signing_key = _signing_key() if args.promote else None
    progress = Progress(quiet=args.quiet)
    try:
        if args.recipe:
            version, result = _train_recipe(args, registry, config, progress)
        else:
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
    print(_operating_points(result.threshold_notes))
    cost = result.clean_cost
    print(
        f"clean traffic, out of fold ({cost['clean_rows']} rows): blocked "
        f"{cost['clean_blocked']:.2%}; flagged by any category: everyday "
        f"{cost['everyday_flagged']:.2%}, hard negatives {cost['hard_negatives_flagged']:.2%}"
    )
    where = "test split" if result.test is not None else "out of fold (final fit)"
    print(f"metrics on the {where}:")
    print(_metrics_table(result.report.metrics))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
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


def _recipe_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings a recipe chooses unless the command line names them (None: not
    named)."""
    return {
        "folds": args.folds,
        "target_precision": args.target_precision,
        "block_support": args.block_support,
    }


def _train_recipe(args: argparse.Namespace, registry: Any, config: Any, progress: Any) -> Any:
    from dataclasses import replace

    from training.labelled_data import data_snapshot, read_many
    from training.public_datasets import DEFAULT_ROOT
    from training.recipes import RECIPE_TRAINING, recipe_rows
    from training.train import save_result, train_model

    mirror = args.datasets
    if mirror is None and DEFAULT_ROOT.is_dir():
        mirror = DEFAULT_ROOT
    data = recipe_rows(
        args.recipe, mirror=mirror, commercial_only=args.commercial_only, progress=progress
    )
    if args.data:
        # the label store beside the recipe: a model that learned the moderators' labels is
        # gated against the served one trained on the same public sets, not on fewer rows
        extra = read_many(args.data, exclude_moderators=args.exclude_moderator)
        progress(f"{len(extra)} rows from {', '.join(str(p) for p in args.data)}")
        data.rows.extend(extra)
        data.snapshot["data_files"] = data_snapshot(args.data)
        if args.exclude_moderator:
            data.snapshot["excluded_moderators"] = sorted(args.exclude_moderator)
    config = replace(config, params={**data.params, **config.params})
    # the recipe's training settings, where the command line named none
    named = _recipe_settings(args)
    settings = {k: v for k, v in RECIPE_TRAINING[args.recipe].items() if named[k] is None}
    config = replace(config, **settings)
    result = train_model(data.rows, config, progress=progress)
    version = save_result(registry, result, config, data=data.snapshot, progress=progress)
    progress(f"saved version {version}")
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    return version, result


def _datasets(args: argparse.Namespace) -> int:
    from training import catalogue

    cache = args.cache or catalogue.default_cache()
    if args.action == "list":
        print(f"cache: {cache}")
        for item in catalogue.CATALOGUE:
            try:
                state = "cached" if catalogue.cached(item, cache) else "-"
            except catalogue.CatalogueError:
                state = "BAD CHECKSUM"
            use = "commercial ok" if item.commercial else "non-commercial/unclear"
            recipe = "" if item.in_default_recipe else "  (not in the default recipe)"
            print(f"{item.name:<26} {item.language:<5} {state:<12} {use:<22} {item.licence}")
            print(f"{'':<26} source: {item.source}")
            print(f"{'':<26} maps: {item.mapping}; held out: {item.test_split}{recipe}")
        return 0
    failures = 0
    if args.action == "import":
        names = args.names or [
            item.name
            for item in catalogue.CATALOGUE
            if (args.mirror / item.name / catalogue.DATA_FILE).is_file()
        ]
        if not names:
            print(f"{args.mirror}: holds no catalogued set (NAME/data.jsonl)", file=sys.stderr)
            return 1
        for name in names:
            try:
                path = catalogue.import_set(name, args.mirror, cache)
                print(f"{name}: imported to {path}")
            except catalogue.CatalogueError as exc:
                print(f"chatguard datasets import: {exc}", file=sys.stderr)
                failures += 1
    else:
        for name in args.names or [item.name for item in catalogue.CATALOGUE]:
            try:
                path = catalogue.fetch_set(name, cache)
                print(f"{name}: fetched to {path}")
            except catalogue.CatalogueError as exc:
                print(f"chatguard datasets fetch: {exc}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


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


def _operating_points(notes: Any) -> str:
    """Each category's review and block threshold with its out-of-fold recall and clean cost."""
    lines = [
        "thresholds (chosen out of fold; clean = share of clean rows flagged):",
        f"{'category':<10} {'review':>7} {'recall':>7} {'clean':>7}   "
        f"{'block':>7} {'recall':>7} {'prec':>6} {'clean':>7}  band",
    ]
    for label, note in notes.items():
        points = note.get("operating_points")
        if not points:
            lines.append(f"{label:<10} (no thresholds: {'; '.join(note.get('warnings', []))})")
            continue
        r, b = points["review"], points["block"]

        def cut(value: float | None) -> str:
            return "never" if value is None else f"{value:.3f}"

        lines.append(
            f"{label:<10} {cut(r['threshold']):>7} {r['recall']:>7.1%} {r['clean_rate']:>7.2%}   "
            f"{cut(b['threshold']):>7} {b['recall']:>7.1%} {b['precision']:>6.1%} "
            f"{b['clean_rate']:>7.2%}  {note.get('review_band', '')}"
        )
    return "\n".join(lines)


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

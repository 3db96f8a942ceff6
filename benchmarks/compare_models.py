"""Several model versions side by side on the sample traffic and the dev set, in one run.

    .venv/bin/python benchmarks/compare_models.py --model NAME=REGISTRY[:VERSION] ...

Each model (its own thresholds, no policy overrides) decides every row of
``devtools/samples/traffic.jsonl``, of ``benchmarks/devset/`` and of the blind dev set
``benchmarks/devset_blind/`` (English, Chinese, both; written without sight of the training text
or of the other dev set), of each later blind set ``benchmarks/devset_blind_2/``, ``_3/``, …
(written the same way from 2026-12-04 on, each after the ones before had been read), of every
blind set pooled and of the chat-style set ``benchmarks/devset_chat_style/`` (clean chat in
textspeak and internet slang). Per
split and model: harmful rows flagged (review or block) and blocked; everyday clean rows flagged;
hard negatives flagged; clean rows reviewed and blocked. A clean row without a ``kind`` of
``everyday`` or ``hard_negative`` (the sample traffic's rows) counts as everyday. The targets
(issue 12) are printed next to the figures. Without ``:VERSION`` the registry's newest version is
used. When the public sets are there (``../shared/datasets``), one more split: every
default-recipe set's held-out rows that are positive for nothing (SMS ham, tweets that are not
offensive), decided as chat: how often a model flags other writers' ordinary text, which the
dev set, written in the corpus's style, cannot show. Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC = ROOT / "devtools" / "samples" / "traffic.jsonl"
DEVSET = ROOT / "benchmarks" / "devset"
BLIND = ROOT / "benchmarks" / "devset_blind"
CHAT_STYLE = ROOT / "benchmarks" / "devset_chat_style"

# (figure, target on the sample traffic, target on the dev set)
FIGURES = (
    ("harmful flagged", ">= 97%", ">= 95%"),
    ("harmful blocked", "", ""),
    ("everyday flagged", "", "<= 1%"),
    ("hard negatives flagged", "", "<= 5%"),
    ("clean reviewed", "<= 2%", ""),
    ("clean blocked (rows)", "0", "0"),
    ("public sets' harmless rows flagged", "", ""),
)


ORDINALS = [
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
]


def numbered_blind_sets() -> list[tuple[str, Path, str]]:
    """(title, folder, file prefix) of each blind set after the first, in the order written:
    ``benchmarks/devset_blind_N/blindN_LANG.jsonl`` is the "Nth blind set"."""
    found = []
    for folder in (ROOT / "benchmarks").glob("devset_blind_*"):
        number = int(folder.name.removeprefix("devset_blind_"))
        ordinal = ORDINALS[number - 2] if 2 <= number < len(ORDINALS) + 2 else f"no. {number}"
        found.append((number, f"{ordinal} blind set", folder, f"blind{number}_"))
    return [(title, folder, prefix) for _, title, folder, prefix in sorted(found)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def splits() -> dict[str, list[dict[str, Any]]]:
    dev = {p.stem.removeprefix("devset_"): read_jsonl(p) for p in sorted(DEVSET.glob("*.jsonl"))}
    out = {"sample traffic": read_jsonl(TRAFFIC)}
    for lang, rows in dev.items():
        out[f"dev set {lang}"] = rows
    out["dev set, all"] = [r for rows in dev.values() for r in rows]
    blind = {p.stem.removeprefix("blind_"): read_jsonl(p) for p in sorted(BLIND.glob("*.jsonl"))}
    for lang, rows in blind.items():
        out[f"blind dev set {lang}"] = rows
    if blind:
        out["blind dev set, all"] = [r for rows in blind.values() for r in rows]
    for title, folder, prefix in numbered_blind_sets():
        by_lang = {
            p.stem.removeprefix(prefix): read_jsonl(p) for p in sorted(folder.glob("*.jsonl"))
        }
        for lang, rows in by_lang.items():
            out[f"{title} {lang}"] = rows
        if by_lang:
            out[f"{title}, all"] = [r for rows in by_lang.values() for r in rows]
    pooled = [
        r
        for split, rows in out.items()
        if "blind" in split and split.endswith(", all")
        for r in rows
    ]
    if pooled:
        out["every blind set pooled"] = pooled
    style = {
        p.stem.removeprefix("chat_style_"): read_jsonl(p)
        for p in sorted(CHAT_STYLE.glob("*.jsonl"))
    }
    for lang, rows in style.items():
        out[f"chat-style set {lang}"] = rows
    if style:
        out["chat-style set, all"] = [r for rows in style.values() for r in rows]
    public = public_harmless()
    if public:
        out["public sets' held-out harmless rows"] = public
    return out


def public_harmless() -> list[dict[str, Any]]:
    """Held-out rows of every default-recipe set that are positive for nothing; [] without the
    sets. Never trained on: the default recipe leaves every set's test split out."""
    from training import catalogue
    from training import public_datasets as pdata

    rows: list[dict[str, Any]] = []
    for item in catalogue.CATALOGUE:
        if not item.in_default_recipe:
            continue
        try:
            data = item.loader()(None)
        except pdata.DatasetNotFound:
            continue
        _, test = catalogue.held_out(item, data)
        rows += [
            {"text": r.text, "kind": "public", "set": item.name}
            for r, held in zip(data.rows, test, strict=True)
            if held and 1 not in r.labels.values()
        ]
    return rows


def figures(actions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    act = np.array(actions)
    harmful = np.array([bool(r.get("expected", r.get("categories"))) for r in rows])
    kind = np.array([str(r.get("kind")) for r in rows])
    hard = ~harmful & (kind == "hard_negative")
    public = ~harmful & (kind == "public")
    everyday = ~harmful & ~hard & ~public

    def share(sel: np.ndarray, what: np.ndarray) -> str:
        if not sel.any():
            return "-"
        return f"{what[sel].mean():.1%} ({int(what[sel].sum())}/{int(sel.sum())})"

    flagged, blocked = act != "allow", act == "block"
    return {
        "harmful flagged": share(harmful, flagged),
        "harmful blocked": share(harmful, blocked),
        "everyday flagged": share(everyday, flagged),
        "hard negatives flagged": share(hard, flagged),
        "clean reviewed": share(~harmful, act == "review"),
        "clean blocked (rows)": str(int((blocked & ~harmful).sum())),
        "public sets' harmless rows flagged": share(public, flagged),
    }


def decide(loaded: Any, texts: Sequence[str]) -> list[str]:
    from models.policy import Policy

    scores = loaded.score(list(texts))
    verdicts = Policy.from_model(loaded).decide_messages(scores, texts)
    return [v.action for v in verdicts]


def load(spec: str) -> tuple[str, Any]:
    from models.registry import ModelRegistry

    name, sep, where = spec.partition("=")
    if not sep:
        msg = f"--model {spec!r}: expected NAME=REGISTRY[:VERSION]"
        raise SystemExit(msg)
    root, _, version = where.partition(":")
    registry = ModelRegistry(Path(root))
    version = version or registry.versions()[-1]
    return f"{name} ({version})", registry.load(version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=REGISTRY[:V]")
    args = parser.parse_args(argv)
    models = [load(spec) for spec in args.model]
    data = splits()
    names = [name for name, _ in models]
    out = []
    for split, rows in data.items():
        texts = [str(r["text"]) for r in rows]
        results = [figures(decide(loaded, texts), rows) for _, loaded in models]
        dev_like = "dev set" in split or "blind set" in split
        target_at = 1 if split == "sample traffic" else 2 if dev_like else 0
        out += [
            f"### {split} ({len(rows)} rows)",
            "",
            "| figure | " + " | ".join(names) + " | target |",
            "|---|" + "---|" * (len(names) + 1),
        ]
        for figure in FIGURES:
            cells = " | ".join(r[figure[0]] for r in results)
            target = figure[target_at] if target_at else ""
            out.append(f"| {figure[0]} | {cells} | {target or '-'} |")
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

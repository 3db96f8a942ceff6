"""Scores → action (allow / review / block) with the categories and reasons that caused it.

Thresholds come from the model (chosen on validation data when it was trained); a JSON policy file
can override them and make some sources stricter. The file (``Settings.policy_file``)::

    {
      "thresholds": {"fraud": {"block": 0.9}, "hate": {"review": 0.4, "block": null}},
      "sources": {
        "post:ad":        {"scale": 0.8},
        "account:public": {"scale": 0.9, "thresholds": {"extremism": {"block": 0.6}}}
      }
    }

- ``thresholds``: per category, replaces the model's ``review`` and/or ``block`` threshold;
  ``null`` switches that action off for the category.
- ``sources``: keyed by the exact source string the caller passes (``post:ad``, ``chat``,
  ``account:public`` ...). ``thresholds`` there replace the global ones for that source; then every
  threshold is multiplied by ``scale`` (0 < scale ≤ 1: a source can only be made stricter).
  A source not listed gets the global thresholds.

A category triggers an action when its score is ``>=`` that action's threshold; the message's
action is the most severe one triggered. Every category named in the file must be one the model
scores, so a typo cannot silently disable an override.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from models.errors import PolicyError
from models.normalize import content_length

if TYPE_CHECKING:
    from models.artifact import LoadedModel

Action = Literal["allow", "review", "block"]
ACTIONS: tuple[Action, ...] = ("allow", "review", "block")


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds of one category; ``None`` means the action is never taken for it."""

    review: float | None
    block: float | None

    def __post_init__(self) -> None:
        for name in ("review", "block"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                msg = f"{name} threshold {value!r} is outside [0, 1]"
                raise PolicyError(msg)

    def to_json(self) -> dict[str, float | None]:
        return {"review": self.review, "block": self.block}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], base: Thresholds | None = None) -> Thresholds:
        """Parse ``{"review": x, "block": y}``; keys left out keep the value from ``base``."""
        unknown = set(data) - {"review", "block"}
        if unknown:
            msg = f"unknown threshold keys {sorted(unknown)}; use review and block"
            raise PolicyError(msg)
        values: dict[str, float | None] = {}
        for name in ("review", "block"):
            if name in data:
                raw = data[name]
                if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
                    msg = f"{name} threshold {raw!r} is not a number or null"
                    raise PolicyError(msg)
                values[name] = None if raw is None else float(raw)
            elif base is not None:
                values[name] = getattr(base, name)
            else:
                msg = f"threshold {name!r} is missing"
                raise PolicyError(msg)
        return cls(review=values["review"], block=values["block"])


@dataclass(frozen=True)
class SourceRule:
    """Stricter handling for one source: per-category thresholds, then a scale on all of them."""

    scale: float = 1.0
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The action for one message, the categories that triggered it and why (human-readable)."""

    action: Action
    triggered: tuple[str, ...]
    reasons: tuple[str, ...]


ALLOW = Verdict("allow", (), ())  # the verdict of a row nothing triggers (shared: it is frozen)


class Policy:
    """Decides actions from score matrices. Immutable once built; ``version`` names it."""

    def __init__(
        self,
        labels: Sequence[str],
        thresholds: Mapping[str, Thresholds],
        sources: Mapping[str, SourceRule] | None = None,
    ) -> None:
        self.labels = tuple(labels)
        missing = [label for label in self.labels if label not in thresholds]
        extra = [name for name in thresholds if name not in self.labels]
        if missing or extra:
            msg = f"thresholds must cover exactly {self.labels}; missing {missing}, unknown {extra}"
            raise PolicyError(msg)
        self.thresholds = {label: thresholds[label] for label in self.labels}
        self.sources = dict(sources or {})
        for source, rule in self.sources.items():
            if not 0.0 < rule.scale <= 1.0:
                msg = f"source {source!r}: scale {rule.scale!r} must be in (0, 1]"
                raise PolicyError(msg)
            unknown = [name for name in rule.thresholds if name not in self.labels]
            if unknown:
                msg = f"source {source!r} names categories the model does not score: {unknown}"
                raise PolicyError(msg)
        self._tables: dict[str | None, tuple[np.ndarray, np.ndarray]] = {None: self._table(None)}
        for source in self.sources:
            self._tables[source] = self._table(source)
        self.version = self._version()

    @classmethod
    def from_model(cls, loaded: LoadedModel, overrides_file: str | Path | None = None) -> Policy:
        """The model's own thresholds, with the overrides from ``overrides_file`` if given."""
        if not overrides_file:
            return cls(loaded.labels, loaded.thresholds)
        path = Path(overrides_file)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            msg = f"policy file {path} does not exist"
            raise PolicyError(msg) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"policy file {path} is not readable JSON: {exc}"
            raise PolicyError(msg) from exc
        try:
            return cls.from_overrides(loaded.labels, loaded.thresholds, data)
        except PolicyError as exc:
            msg = f"policy file {path}: {exc}"
            raise PolicyError(msg) from exc

    @classmethod
    def from_overrides(
        cls, labels: Sequence[str], base: Mapping[str, Thresholds], data: object
    ) -> Policy:
        """Apply an overrides document (the JSON form in the module docstring) to ``base``."""
        if not isinstance(data, dict):
            msg = "the policy must be a JSON object"
            raise PolicyError(msg)
        unknown_keys = set(data) - {"thresholds", "sources"}
        if unknown_keys:
            msg = f"unknown top-level keys {sorted(unknown_keys)}; use thresholds and sources"
            raise PolicyError(msg)
        thresholds = dict(base)
        for name, spec in _object(data.get("thresholds", {}), "thresholds").items():
            if name not in labels:
                msg = f"thresholds names category {name!r}, which the model does not score"
                raise PolicyError(msg)
            thresholds[name] = Thresholds.from_json(_object(spec, f"thresholds.{name}"), base[name])
        sources: dict[str, SourceRule] = {}
        for source, spec in _object(data.get("sources", {}), "sources").items():
            spec = _object(spec, f"sources.{source}")
            extra = set(spec) - {"scale", "thresholds"}
            if extra:
                msg = f"sources.{source}: unknown keys {sorted(extra)}; use scale and thresholds"
                raise PolicyError(msg)
            scale = spec.get("scale", 1.0)
            if isinstance(scale, bool) or not isinstance(scale, int | float):
                msg = f"sources.{source}.scale {scale!r} is not a number"
                raise PolicyError(msg)
            per_category = {}
            for name, t_spec in _object(spec.get("thresholds", {}), source).items():
                if name not in labels:
                    msg = f"sources.{source} names {name!r}, a category the model does not score"
                    raise PolicyError(msg)
                per_category[name] = Thresholds.from_json(
                    _object(t_spec, f"sources.{source}.{name}"), thresholds[name]
                )
            sources[source] = SourceRule(scale=float(scale), thresholds=per_category)
        return cls(labels, thresholds, sources)

    def thresholds_for(self, source: str | None) -> dict[str, Thresholds]:
        """The effective thresholds for messages from ``source``."""
        review, block = self._tables.get(source, self._tables[None])
        return {
            label: Thresholds(_none(review[j]), _none(block[j]))
            for j, label in enumerate(self.labels)
        }

    def decide(self, scores: Sequence[float], source: str | None = None) -> Verdict:
        """The verdict for one message's scores."""
        return self.decide_batch(np.asarray([scores], dtype=np.float64), [source])[0]

    def decide_messages(
        self,
        scores: np.ndarray,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        normalized: Sequence[str | None] | None = None,
    ) -> list[Verdict]:
        """The verdicts on the messages ``texts`` scored as ``scores``: :meth:`decide_batch`,
        then :func:`review_thin_blocks` (``normalized`` as there) and
        :func:`review_quoting_blocks`. What every caller that has the texts uses."""
        verdicts = review_thin_blocks(self.decide_batch(scores, sources), texts, normalized)
        return review_quoting_blocks(verdicts, texts)

    def decide_batch(
        self, scores: np.ndarray, sources: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        """One verdict per row of ``scores`` (``n × len(labels)``, columns in ``labels`` order)."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != len(self.labels):
            msg = f"scores have shape {scores.shape}; expected (n, {len(self.labels)})"
            raise PolicyError(msg)
        if sources is None:
            sources = [None] * len(scores)
        if len(sources) != len(scores):
            msg = f"{len(sources)} sources for {len(scores)} score rows"
            raise PolicyError(msg)
        default = self._tables[None]
        tables = [self._tables.get(source, default) for source in sources]
        k = len(self.labels)
        review = np.array([t[0] for t in tables]).reshape(len(tables), k)
        block = np.array([t[1] for t in tables]).reshape(len(tables), k)
        # NaN thresholds (action off) compare False, so they never trigger
        is_block = scores >= block
        is_review = scores >= review
        # per row, once for the batch (a numpy call per row cost more than the rest of deciding)
        any_block: list[bool] = np.asarray(is_block.any(axis=1)).tolist()
        any_review: list[bool] = np.asarray(is_review.any(axis=1)).tolist()
        verdicts = []
        for i in range(len(scores)):
            if any_block[i]:
                action: Action = "block"
                hits = np.flatnonzero(is_block[i])
                kind, table = "block", block[i]
            elif any_review[i]:
                action = "review"
                hits = np.flatnonzero(is_review[i])
                kind, table = "review", review[i]
            else:
                verdicts.append(ALLOW)
                continue
            triggered = tuple(self.labels[j] for j in hits)
            reasons = tuple(
                f"{self.labels[j]} {scores[i, j]:.3f} >= {kind} {table[j]:.3f}" for j in hits
            )
            verdicts.append(Verdict(action, triggered, reasons))
        return verdicts

    def to_json(self) -> dict[str, Any]:
        """The effective policy as data (what ``version`` hashes)."""
        return {
            "labels": list(self.labels),
            "thresholds": {k: t.to_json() for k, t in self.thresholds.items()},
            "sources": {
                source: {
                    "scale": rule.scale,
                    "thresholds": {k: t.to_json() for k, t in rule.thresholds.items()},
                }
                for source, rule in sorted(self.sources.items())
            },
        }

    def _table(self, source: str | None) -> tuple[np.ndarray, np.ndarray]:
        rule = self.sources.get(source) if source is not None else None
        scale = rule.scale if rule else 1.0
        review = np.full(len(self.labels), np.nan)
        block = np.full(len(self.labels), np.nan)
        for j, label in enumerate(self.labels):
            t = self.thresholds[label]
            if rule is not None:
                t = rule.thresholds.get(label, t)
            if t.review is not None:
                review[j] = t.review * scale
            if t.block is not None:
                block[j] = t.block * scale
        return review, block

    def _version(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# fewer letters than this (placeholders not counted) and the model alone never blocks
MIN_BLOCK_CONTENT = 4
THIN_REASON = f"fewer than {MIN_BLOCK_CONTENT} letters besides bait: reviewed, not blocked"


def review_thin_blocks(
    verdicts: Sequence[Verdict],
    texts: Sequence[str],
    normalized: Sequence[str | None] | None = None,
) -> list[Verdict]:
    """The model's blocks on messages with too little text (a bare number, a lone "vip") made
    reviews: the model has little to go on there, and a wrong block silences a user where a
    wrong review costs a moderator a glance. Only blocked messages are measured, on their
    ``normalized`` text where the caller has it (None: normalized here)."""
    if len(verdicts) != len(texts) or (normalized is not None and len(normalized) != len(texts)):
        msg = f"{len(texts)} texts for {len(verdicts)} verdicts"
        raise PolicyError(msg)
    known = normalized if normalized is not None else [None] * len(texts)
    return [
        replace(v, action="review", reasons=(*v.reasons, THIN_REASON))
        if v.action == "block" and content_length(text, done) < MIN_BLOCK_CONTENT
        else v
        for v, text, done in zip(verdicts, texts, known, strict=True)
    ]


# A quoted message: the text inside one pair of quote marks, at least this many word characters
# (a sentence, not a quoted word such as "insurance deposit"), with at least MIN_FRAME_CHARS
# word characters of the sender's own outside the quotes
MIN_QUOTED_CHARS = 20
MIN_FRAME_CHARS = 4
QUOTING_REASON = "quotes another message: reviewed, not blocked"
# Quote marks around a span (as ``models.features`` reads them), where a single quote also
# holds apostrophes between letters ("You've"). Possessive: an apostrophe inside a quote cannot
# also close it, so no span is tried twice and the search stays linear on hostile text.
_QUOTED_SPAN = re.compile(
    r"“[^“”]{2,}+”|「[^「」]{2,}+」|『[^『』]{2,}+』|\"[^\"]{2,}+\""
    r"|‘(?:[^‘’]|(?<=\w)’(?=\w)){2,}+’|(?<!\w)'(?:[^']|(?<=\w)'(?=\w)){2,}+'(?!\w)"
)
_WORD = re.compile(r"\w")


def quotes_a_message(text: str) -> bool:
    """True when ``text`` quotes another message and says something of its own around it:
    "Mum forwarded me 'You have won $1,000,000, send your bank details' 😂 delete it"."""
    spans = [m.span() for m in _QUOTED_SPAN.finditer(text)]
    if not any(len(_WORD.findall(text, start, end)) >= MIN_QUOTED_CHARS for start, end in spans):
        return False
    frame, at = 0, 0
    for start, end in spans:
        frame += len(_WORD.findall(text, at, start))
        at = end
    frame += len(_WORD.findall(text, at))
    return frame >= MIN_FRAME_CHARS


def review_quoting_blocks(verdicts: Sequence[Verdict], texts: Sequence[str]) -> list[Verdict]:
    """The model's blocks on messages that quote another message made reviews. Warnings,
    complaints and "is this real?" questions quote the scam or the insult they are about, in
    the very words the model blocks on: two of the three clean messages the default model
    blocked on eleven blind sets were such. A sender can frame abuse as a quote too, so it is
    reviewed, not allowed; rules and campaigns still block it."""
    if len(verdicts) != len(texts):
        msg = f"{len(texts)} texts for {len(verdicts)} verdicts"
        raise PolicyError(msg)
    return [
        replace(v, action="review", reasons=(*v.reasons, QUOTING_REASON))
        if v.action == "block" and quotes_a_message(text)
        else v
        for v, text in zip(verdicts, texts, strict=True)
    ]


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{where} must be a JSON object, got {type(value).__name__}"
        raise PolicyError(msg)
    return value


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)

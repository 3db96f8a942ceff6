"""What runs in the scoring process (``streams.scoring_process``): its loop, and scoring a batch
so that a text the model raises on fails alone.

Kept apart so the fork server and each child import only this, the model's code and numpy:
not the worker's Faust, web server and metrics.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from models.normalize import Analysis, remembered
from models.scorer import Scorer, VersionedScorer

if TYPE_CHECKING:
    from models.rules import Contacts
    from streams.campaigns import Fingerprint

WARM_UP_TEXT = "chatguard"
# what an OSError says when the process ran short of something for a while (descriptors taken
# by a flood of connections, memory, processes): no text's fault, and gone again shortly
SHORTAGES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.ENOBUFS})


@dataclass(frozen=True, slots=True)
class ScoringFailure:
    """An event the model raised on, or (``scoring_timeout``) did not score within the budget."""

    index: int
    error: str
    kind: str = "scoring_failed"


def score_texts(
    model: Scorer, texts: Sequence[str], memo: dict[str, Analysis] | None = None
) -> tuple[np.ndarray, list[ScoringFailure]]:
    """The model's scores for ``texts`` (rows of failed texts are NaN) and the failures; with
    ``memo``, the normalized texts the model computed on the way (text → analysis). A shortage
    (:func:`short_of_resources`) is raised: it would fail each text alone as well."""
    recording = remembered(memo) if memo is not None else contextlib.nullcontext()
    try:
        with recording:
            return np.asarray(model.score(texts), dtype=np.float64), []
    except Exception as exc:
        if short_of_resources(exc):
            raise
        # else find the culprit below
    scores = np.full((len(texts), len(model.labels)), np.nan)
    failures = []
    for i, text in enumerate(texts):
        try:
            scores[i] = model.score([text])[0]
        except Exception as exc:
            failures.append(ScoringFailure(i, f"{type(exc).__name__}: {exc}"))
    return scores, failures


def serve(conn: Connection) -> None:
    """The child's loop: hold a model, score what comes, until the pipe closes."""
    model: VersionedScorer | None = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the worker stopped or died: nothing left to serve
        try:
            if request[0] == "model":
                model = request[1]
                model.score([WARM_UP_TEXT])  # builds the lookup tables before the first batch
                answer: Any = None
            else:
                if model is None:
                    msg = "no model was sent to the scoring process"
                    raise RuntimeError(msg)
                _, texts, remember, fingerprint, partitions, contacts = request
                memo: dict[str, Analysis] | None = {} if remember else None
                scores, failures = score_texts(model, texts, memo)
                tokens = _contacts(texts, memo or {}) if contacts else {}
                found = _fingerprints(texts, memo or {}, partitions, tokens) if fingerprint else {}
                answer = (scores, failures, memo or {}, found, tokens)
        except Exception as exc:  # reported to the caller, who decides what fails
            # a shortage goes as itself, so that the worker waits and tries again
            conn.send((False, exc if short_of_resources(exc) else f"{type(exc).__name__}: {exc}"))
            continue
        conn.send((True, answer))


def short_of_resources(exc: BaseException) -> bool:
    """Whether ``exc`` is an OSError of :data:`SHORTAGES`: worth trying again shortly."""
    return isinstance(exc, OSError) and exc.errno in SHORTAGES


def _contacts(texts: Sequence[str], memo: dict[str, Analysis]) -> dict[str, Contacts]:
    """The batch's contact tokens (``models.rules.contacts_of``), imported on first use like
    the fingerprints: a child that is never asked for them never loads the rules' libraries."""
    from models.rules import contacts_of

    return contacts_of(texts, memo)


def _fingerprints(
    texts: Sequence[str],
    memo: dict[str, Analysis],
    partitions: int,
    contacts: dict[str, Contacts] | None = None,
) -> dict[str, Fingerprint]:
    """The batch's campaign fingerprints. Imported on first use: the child of a worker with
    campaigns off never loads them, nor the Kafka client they bring (about 7 MB of RSS in it
    and as much in its fork server)."""
    from streams.campaigns import fingerprints_or_empty

    return fingerprints_or_empty(texts, memo, partitions, contacts)

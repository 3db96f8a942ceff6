"""The model a worker serves, and its hot reload when the registry's CURRENT pointer moves.

Workers poll the registry (shared storage in a fleet) instead of listening on a topic: a topic
partition reaches one member of a consumer group, but every worker must switch. A new version is
loaded in a thread so the event loop keeps consuming; the swap is one attribute assignment, so a
batch is always scored and labelled by one version. A failed load keeps the old model.

Every load checks the version's signature with the public key before anything is unpickled
(``models.signing``); a refused version is named in ``/ready`` and in the
``chatguard_model_refused`` metric until a loadable version is promoted. What ``/ready`` shows is
built here without filesystem paths; the log line has the full detail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatguard.settings import Settings
from models.errors import ArtifactIntegrityError, ModelError, SignatureInvalid, SignatureMissing
from models.policy import Policy
from models.registry import ModelRegistry
from models.scorer import VersionedScorer
from models.signing import load_public_key
from streams import metrics

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from models.artifact import LoadedModel

log = logging.getLogger(__name__)
REGISTRY_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class ServingModel:
    """A loaded model with the policy built from its thresholds and the overrides file.

    Serving needs only the ``VersionedScorer`` side of a loaded version: labels, scores and the
    version named in every decision."""

    model: VersionedScorer
    policy: Policy

    @property
    def version(self) -> str:
        return self.model.version


@dataclass(frozen=True)
class Refusal:
    """A version the worker would not load, and why, in words safe to show on the web port."""

    version: str
    reason: str  # unsigned | bad_signature | tampered | unloadable

    @classmethod
    def of(cls, version: str, exc: BaseException) -> Refusal:
        if isinstance(exc, SignatureMissing):
            return cls(version, "unsigned")
        if isinstance(exc, SignatureInvalid):
            return cls(version, "bad_signature")
        if isinstance(exc, ArtifactIntegrityError):
            return cls(version, "tampered")
        return cls(version, "unloadable")

    @property
    def description(self) -> str:
        return {
            "unsigned": "it is not signed",
            "bad_signature": "its signature does not verify with the trusted public key",
            "tampered": "its model file does not match the sha256 in its metadata",
        }.get(self.reason, "it could not be loaded (the worker log says why)")


class ModelHolder:
    """Holds the current :class:`ServingModel`; ``refresh`` follows the registry."""

    def __init__(self, settings: Settings) -> None:
        self.registry = ModelRegistry(settings.registry)
        self.policy_file = settings.policy_file or None
        self.public_key_path = settings.model_public_key
        self.allow_unsigned = settings.allow_unsigned_models
        self._public_key: Ed25519PublicKey | None = None
        self._serving: ServingModel | None = None
        self.last_error: str | None = None  # shown on /ready: no paths in it
        self.registry_problem: str | None = None  # see watch_registry
        self._registry_logged_at = 0.0
        self.refused: Refusal | None = None
        # the model scores in a child process that holds a copy of its own (streams.scoring)
        self.scores_in_child = settings.scoring == "process"

    @property
    def current(self) -> ServingModel:
        if self._serving is None:
            msg = "no model loaded yet"
            raise ModelError(msg)
        return self._serving

    @property
    def loaded(self) -> bool:
        return self._serving is not None

    def use(self, serving: ServingModel) -> None:
        self._serving = serving
        metrics.set_model(serving.version, serving.policy.version)
        differs = bool(getattr(serving.model, "normalizer_differs", False))
        metrics.MODEL_NORMALIZER_DIFFERS.set(int(differs))
        if differs:
            log.warning(
                "model %s was trained under another normalizer than this worker's: it reads "
                "texts otherwise than it learned them; retrain it (chatguard train)",
                serving.version,
            )

    def verification_key(self) -> Ed25519PublicKey | None:
        """The public key every load checks, or None if unsigned models are allowed (dev only).

        Read lazily so that importing the worker never fails; a missing key fails the load with
        a message saying how to create one.
        """
        if self.allow_unsigned:
            log.warning(
                "CHATGUARD_ALLOW_UNSIGNED_MODELS is on: model signatures are NOT checked; "
                "anyone who can write the registry can run code in this worker"
            )
            return None
        if self._public_key is None:
            self._public_key = load_public_key(self.public_key_path)
        return self._public_key

    def load_current(self) -> ServingModel:
        """Load the registry's current version (raises ``ModelError`` with a clear message)."""
        serving = self._serving_of(self.registry.load_current(self.verification_key()))
        self.use(serving)
        return serving

    def _serving_of(self, model: LoadedModel) -> ServingModel:
        """``model`` with its policy; cold if it scores in a child (:func:`_drop_caches`)."""
        serving = ServingModel(model, Policy.from_model(model, self.policy_file))
        if self.scores_in_child:
            _drop_caches(model)
        return serving

    async def refresh(self) -> str | None:
        """Switch to the registry's current version if it moved; return the new version."""
        self.watch_registry()
        try:
            wanted = self.registry.current_version()
        except (ModelError, OSError) as exc:
            log.error("cannot read the registry's current version: %s", exc)
            self._failed("cannot read the registry's current version (the worker log says why)")
            return None
        if wanted is None or (self._serving is not None and wanted == self._serving.version):
            if wanted is not None:
                self._settled()
            return None
        try:
            loop = asyncio.get_running_loop()
            model = await loop.run_in_executor(
                None, self.registry.load, wanted, self.verification_key()
            )
            serving = self._serving_of(model)
        except Exception as exc:  # any failure keeps the old model serving
            self._refuse(Refusal.of(wanted, exc), exc)
            return None
        old = self._version()
        self.use(serving)
        self.last_error = None
        self.refused = None
        metrics.set_refused(None)
        metrics.MODEL_RELOADS.labels(result="ok").inc()
        log.info("model switched from %s to %s (policy %s)", old, wanted, serving.policy.version)
        return wanted

    def watch_registry(self) -> None:
        """Notice a registry (or its CURRENT) that vanished: the loaded model keeps serving, but
        a worker restarted now could not start, so it shows on ``/ready``, in the metrics and,
        at most once a minute while it lasts, in the log."""
        try:
            problem = self.registry.problem()
        except OSError as exc:
            problem = f"the registry cannot be read ({exc.strerror})"
        now = time.monotonic()
        if problem is None:
            if self.registry_problem is not None:
                log.warning(
                    "the model registry is readable again (%s before)", self.registry_problem
                )
            self.registry_problem = None
            metrics.REGISTRY_OK.set(1)
            return
        metrics.REGISTRY_OK.set(0)
        metrics.REGISTRY_PROBLEMS.inc()
        if (
            problem != self.registry_problem
            or now - self._registry_logged_at >= REGISTRY_LOG_EVERY_S
        ):
            log.error("%s; still serving model %s", problem, self._version())
            self._registry_logged_at = now
        self.registry_problem = problem

    def _refuse(self, refusal: Refusal, exc: BaseException) -> None:
        """Keep serving the old model; say so once per refused version (retried each poll, so
        a version signed after the fact is picked up)."""
        if refusal != self.refused:
            log.error(
                "REFUSED model %s (%s), keeping %s: %s",
                refusal.version,
                refusal.reason,
                self._version(),
                exc,
            )
        self.refused = refusal
        self.last_error = (
            f"model {refusal.version} refused: {refusal.description}; keeping {self._version()}"
        )
        metrics.MODEL_RELOADS.labels(result="refused").inc()
        metrics.set_refused(refusal.version, refusal.reason)

    def _settled(self) -> None:
        """CURRENT names the serving version again (an operator put it back after a refusal, or
        the registry is readable again): the alert is over, on ``/ready`` and in the metrics.
        It stayed up for good before, so dashboards kept firing after the fix."""
        if self.refused is None and self.last_error is None:
            return
        log.warning(
            "CURRENT names the serving model %s again: %s is over", self._version(), self.last_error
        )
        self.refused = None
        self.last_error = None
        metrics.set_refused(None)

    def _failed(self, message: str) -> None:
        if message != self.last_error:  # say it once, not every poll
            log.error("%s", message)
        self.last_error = message
        metrics.MODEL_RELOADS.labels(result="failed").inc()

    def _version(self) -> str:
        return self._serving.version if self._serving is not None else "none"


def _drop_caches(model: object) -> None:
    """Forget what scoring built in a model this process does not score with: the child it is
    sent to builds its own, and a version scored in this process after all builds them again.
    Loading scored a probe to check the model (``models.artifact``): the default model's
    lookup tables and dense weights held about 130 MB of the worker's memory, for nothing."""
    scorer = getattr(model, "scorer", model)
    drop = getattr(scorer, "drop_caches", None)
    if callable(drop):
        drop()

"""The model a worker serves, and its hot reload when the registry's CURRENT pointer moves.

Workers poll the registry (shared storage in a fleet) instead of listening on a topic: a topic
partition reaches one member of a consumer group, but every worker must switch. A new version is
loaded in a thread so the event loop keeps consuming; the swap is one attribute assignment, so a
batch is always scored and labelled by one version. A failed load keeps the old model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from chatguard.settings import Settings
from models.artifact import LoadedModel
from models.errors import ModelError
from models.policy import Policy
from models.registry import ModelRegistry
from streams import metrics

log = logging.getLogger(__name__)
REGISTRY_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class ServingModel:
    """A loaded model with the policy built from its thresholds and the overrides file."""

    model: LoadedModel
    policy: Policy

    @property
    def version(self) -> str:
        return self.model.version


class ModelHolder:
    """Holds the current :class:`ServingModel`; ``refresh`` follows the registry."""

    def __init__(self, settings: Settings) -> None:
        self.registry = ModelRegistry(settings.registry)
        self.policy_file = settings.policy_file or None
        self._serving: ServingModel | None = None
        self.last_error: str | None = None
        self.registry_problem: str | None = None  # see watch_registry
        self._registry_logged_at = 0.0

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

    def load_current(self) -> ServingModel:
        """Load the registry's current version (raises ``ModelError`` with a clear message)."""
        model = self.registry.load_current()
        serving = ServingModel(model, Policy.from_model(model, self.policy_file))
        self.use(serving)
        return serving

    async def refresh(self) -> str | None:
        """Switch to the registry's current version if it moved; return the new version."""
        self.watch_registry()
        try:
            wanted = self.registry.current_version()
        except (ModelError, OSError) as exc:
            self._failed(f"cannot read the registry's current version: {exc}")
            return None
        if wanted is None or (self._serving is not None and wanted == self._serving.version):
            return None
        try:
            loop = asyncio.get_running_loop()
            model = await loop.run_in_executor(None, self.registry.load, wanted)
            serving = ServingModel(model, Policy.from_model(model, self.policy_file))
        except Exception as exc:  # any failure keeps the old model serving
            self._failed(f"loading model {wanted} failed, keeping {self._version()}: {exc}")
            return None
        old = self._version()
        self.use(serving)
        self.last_error = None
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

    def _failed(self, message: str) -> None:
        if message != self.last_error:  # say it once, not every poll
            log.error("%s", message)
        self.last_error = message
        metrics.MODEL_RELOADS.labels(result="failed").inc()

    def _version(self) -> str:
        return self._serving.version if self._serving is not None else "none"

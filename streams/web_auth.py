"""Who may read the worker's web port: ``/ready`` and ``/metrics`` may need a bearer token.

``/health`` stays open so that liveness probes need no secret; it tells only whether the worker
runs. The token is compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any

from chatguard.settings import Settings


def authorized(settings: Settings, request: Any) -> bool:
    """True when no token is configured or the request carries ``Bearer <token>``."""
    if not settings.web_token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), settings.web_token.encode()
    )

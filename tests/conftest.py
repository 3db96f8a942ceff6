"""Fixtures shared by every test layer."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Fuzz tests run a bounded number of examples by default (CI); HYPOTHESIS_PROFILE=long digs deeper.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

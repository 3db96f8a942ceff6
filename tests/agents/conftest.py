"""Agent tests run the Faust ingest path: ``streams.agents`` declares the ``moderate_events``
agent only when ``CHATGUARD_INGEST`` resolves to ``faust``. Settings are read once, at import,
so the variable is set for that import only (workers started by later tests must not see it)."""

import os

_previous = os.environ.get("CHATGUARD_INGEST")
os.environ["CHATGUARD_INGEST"] = "faust"
try:
    import streams.agents  # noqa: F401
finally:
    if _previous is None:
        del os.environ["CHATGUARD_INGEST"]
    else:
        os.environ["CHATGUARD_INGEST"] = _previous

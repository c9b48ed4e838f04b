"""Prefect flows over the ingest library. Thin: every task calls `ingest.*` on a batch.

Importing this package applies the project's offline hygiene before Prefect is imported: no
telemetry, no analytics, and a startup timeout long enough for the ephemeral API on a small
machine. Values the user already set win.
"""

from __future__ import annotations

import os

PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

for _name, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

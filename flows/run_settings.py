"""Prefect settings for the flow runs the CLI starts in its own process (`ingest run`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# Prefect's setting and its older alias; either, set by the user, keeps heartbeats on.
HEARTBEAT_SETTINGS = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


def heartbeats_asked_for() -> bool:
    """Whether the user set the heartbeat frequency (environment or active Prefect profile)."""
    if any(os.environ.get(name) for name in HEARTBEAT_SETTINGS):
        return True
    from prefect.settings import load_current_profile

    with contextlib.suppress(Exception):  # an unreadable profile: Prefect reports it itself
        return any(
            setting.name in HEARTBEAT_SETTINGS for setting in load_current_profile().settings
        )
    return False


@contextlib.contextmanager
def cli_flow_runs() -> Iterator[None]:
    """Flow-run heartbeats off while the block runs, unless the user asked for them.

    Prefect ends every flow run by joining its heartbeat thread, which sleeps in one-second
    steps: about 1 s added to each `ingest run`, half of an unchanged rerun. Heartbeats serve
    a zombie-run automation that a user sets up in Prefect; whoever has one sets
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (environment or profile), which is then honoured.
    Flow runs of deployments (workers, ``ingest serve``) keep Prefect's default.
    """
    if heartbeats_asked_for():
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield

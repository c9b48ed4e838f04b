"""Prefect settings of the CLI's own flow runs (flows.run_settings)."""

from __future__ import annotations

import pytest


def _heartbeat_in_force() -> int | None:
    from prefect.settings import get_current_settings

    return get_current_settings().flows.heartbeat_frequency


def test_heartbeats_off_for_cli_runs_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect joins its heartbeat thread (1-s sleeps) at the end of every flow run: the CLI's
    runs go without unless the user set the frequency, which is then kept as set."""
    from flows.run_settings import HEARTBEAT_SETTINGS, cli_flow_runs, heartbeats_asked_for

    for name in HEARTBEAT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert not heartbeats_asked_for()
    before = _heartbeat_in_force()
    assert before is not None  # Prefect's default: heartbeats on
    with cli_flow_runs():
        assert _heartbeat_in_force() is None
    assert _heartbeat_in_force() == before

    # asked for (read by Prefect when the process starts): left as Prefect has it
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "45")
    assert heartbeats_asked_for()
    with cli_flow_runs():
        assert _heartbeat_in_force() == before


def test_a_flow_run_under_cli_settings_ends_without_the_heartbeat_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same flow twice on one Prefect API: with the CLI's settings it does not wait for
    the heartbeat thread (whose join costs up to 1 s) — measured relative, not absolute."""
    import time

    from prefect import flow

    from flows.local_server import local_api
    from flows.run_settings import HEARTBEAT_SETTINGS, cli_flow_runs

    for name in HEARTBEAT_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    @flow
    def nothing() -> int:
        return 1

    def best_of(runs: int) -> float:
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            assert nothing() == 1
            times.append(time.perf_counter() - began)
        return min(times)

    with local_api():
        nothing()  # warm-up: client, flow registration
        with_heartbeats = best_of(3)
        with cli_flow_runs():
            without = best_of(3)
    assert without < with_heartbeats - 0.3, (without, with_heartbeats)

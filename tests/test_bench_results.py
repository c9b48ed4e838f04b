"""The RESULT line format shared by every benchmark (benchmarks/results.py)."""

from __future__ import annotations

import pytest

from benchmarks.results import make_result, parse_line, parse_output, report


def test_report_prints_a_line_that_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    printed = report(
        "translation.engine_vs_argos_beam4", 2.8134, unit="x", target=" >= 2.5", note="beam 4, it's"
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith("RESULT translation.engine_vs_argos_beam4=2.813 unit=x target=>=2.5")
    assert "pass=yes" in line
    parsed = parse_line(line)
    assert parsed is not None
    assert (parsed.name, parsed.unit, parsed.target, parsed.passed, parsed.note) == (
        "translation.engine_vs_argos_beam4",
        "x",
        ">=2.5",
        True,
        "beam 4, it's",
    )
    assert parsed.value == pytest.approx(printed.value, rel=1e-3)


def test_verdicts() -> None:
    assert make_result("a.b", 0.12, target="<=0.10").passed is False
    assert make_result("a.b", 0.10, target="<=0.10").passed is True
    assert make_result("a.b", 3, target=">3").passed is False
    assert make_result("a.b", 3).passed is None


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Bad Name", "value": 1.0},
        {"name": "a.b", "value": float("nan")},
        {"name": "a.b", "value": 1.0, "target": "about 3"},
    ],
)
def test_invalid_results_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        make_result(**bad)


def test_parse_output_keeps_only_result_lines() -> None:
    text = (
        "throughput: 12 sent/s\nRESULT x.y=1.5 unit=x pass=-\n  RESULT x.z=2 target=<3 pass=yes\n"
    )
    assert [(r.name, r.value, r.passed) for r in parse_output(text)] == [
        ("x.y", 1.5, None),
        ("x.z", 2.0, True),
    ]
    with pytest.raises(ValueError):
        parse_line("RESULT novalue")

"""The RESULT line format shared by every benchmark (benchmarks/results.py)."""

from __future__ import annotations

from pathlib import Path

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


# --- the collector (benchmarks/collect.py) ---------------------------------------------------

FAKE_BENCHMARK = """
print("warming up")
print("RESULT fake.speedup=3.14159 unit=x target=>=2.5 pass=yes note='same | beam'")
print("RESULT fake.lost=1 target=<=0 pass=no")
"""


def test_collector_writes_results_and_readme(tmp_path: Path, monkeypatch) -> None:
    from benchmarks import collect

    script = tmp_path / "fake.py"
    script.write_text(FAKE_BENCHMARK)
    readme = tmp_path / "README.md"
    readme.write_text(
        "Speed-up <!-- bench:fake.speedup -->9.99<!-- /bench -->× (old), "
        "gone <!-- bench:fake.gone -->1<!-- /bench -->.\n"
    )
    output = tmp_path / "RESULTS.md"
    monkeypatch.setattr(collect, "BENCHMARKS", (collect.Benchmark("fake", str(script)),))
    monkeypatch.setattr(collect, "README", readme)
    monkeypatch.setattr(collect, "LOGS", tmp_path / "logs")

    status = collect.main(["--output", str(output)])

    assert status == 1  # fake.lost misses its target
    text = output.read_text()
    for expected in ("- machine: ", " cores, ", "- python: ", "- updated: ", "- mode: quick"):
        assert expected in text
    assert "| fake.speedup | 3.142 | x | >=2.5 | pass | same \\| beam |" in text
    assert "| fake.lost | 1 |  | <=0 | FAIL |  |" in text
    runs = collect.read_results(text)
    assert [(r.benchmark, r.status) for r in runs] == [("fake", "ok")]
    assert [(f.name, f.value, f.passed, f.note) for f in runs[0].results] == [
        ("fake.speedup", 3.142, True, "same | beam"),
        ("fake.lost", 1.0, False, ""),
    ]
    # README: the quoted figure now comes from the run; an unknown name is left as it was
    assert readme.read_text().startswith("Speed-up <!-- bench:fake.speedup -->3.14<!-- /bench -->")
    assert "<!-- bench:fake.gone -->1<!-- /bench -->" in readme.read_text()
    assert (tmp_path / "logs" / "fake.log").read_text().startswith("warming up")


def test_collector_keeps_other_benchmarks_with_only(tmp_path: Path, monkeypatch) -> None:
    from benchmarks import collect

    kept = collect.Run("old", "python benchmarks/old.py", "2026-01-01 00:00 UTC", "abc", 5.0, "ok")
    kept.results.append(make_result("old.ratio", 1.5, unit="x", target=">=1"))
    output = tmp_path / "RESULTS.md"
    output.write_text(collect.render([kept], collect.machine(), "full"))
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nprint('RESULT new.ratio=2')\nsys.exit(3)\n")
    monkeypatch.setattr(collect, "BENCHMARKS", (collect.Benchmark("new", str(failing)),))
    monkeypatch.setattr(collect, "LOGS", tmp_path / "logs")

    assert collect.main(["--only", "new", "--output", str(output), "--no-readme"]) == 1
    runs = {run.benchmark: run for run in collect.read_results(output.read_text())}
    assert runs["old"].date == "2026-01-01 00:00 UTC"
    assert [r.name for r in runs["old"].results] == ["old.ratio"]
    assert runs["new"].status == "exit 3"
    assert [r.value for r in runs["new"].results] == [2.0]


def test_readme_quotes_the_measured_figures() -> None:
    """Every figure README quotes between bench markers is the one in benchmarks/RESULTS.md."""
    from benchmarks import collect

    quotes = collect.readme_quotes(collect.README.read_text(encoding="utf-8"))
    assert quotes, "README quotes no benchmark figure"
    measured = collect.figures(collect.read_results(collect.RESULTS_FILE.read_text()))
    assert {name: collect.display(measured[name].value) for name in quotes if name in measured} == {
        name: value for name, value in quotes.items() if name in measured
    }
    assert not set(quotes) - set(measured), "README quotes figures no benchmark reported"

"""Run the benchmarks, collect their RESULT lines, write benchmarks/RESULTS.md, update README.

    python benchmarks/collect.py [--full] [--only translation,fetch] [--no-readme|--readme-only]

`make bench` runs this (quick mode: the whole set in about 15–20 minutes on 2 cores);
`make bench-full` passes `--full` (the benchmarks' own defaults: larger inputs, an hour or
more). Each benchmark runs in its own process; its output is kept in benchmarks/logs/ (not
committed) and every `RESULT` line it prints (benchmarks/results.py) becomes one row of
RESULTS.md, with the date, commit, core count, CPU and Python of the run. With `--only`, the
rows of the other benchmarks are kept from the previous RESULTS.md (each row says when and at
which commit it was measured).

README quotes figures between markers, `<!-- bench:NAME -->2.81<!-- /bench -->`; after the
run every marker is rewritten from RESULTS.md (`display()` formats the number), so no quoted
figure can drift from what was measured. tests/test_bench_results.py checks they agree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results import Result, format_value, make_result, parse_output  # noqa: E402

RESULTS_FILE = ROOT / "benchmarks" / "RESULTS.md"
README = ROOT / "README.md"
LOGS = ROOT / "benchmarks" / "logs"
MARKER = re.compile(r"<!-- bench:(?P<name>[a-z0-9_.\-]+) -->(?P<value>.*?)<!-- /bench -->")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script and the arguments of its quick (`make bench`) and full runs."""

    name: str
    script: str
    quick: tuple[str, ...] = ()
    full: tuple[str, ...] = ()

    def command(self, full: bool) -> list[str]:
        return [sys.executable, self.script, *(self.full if full else self.quick)]


# Quick arguments keep the whole set near 15–20 minutes on 2 shared cores; each benchmark's
# docstring says what its defaults (the full run) measure.
BENCHMARKS = (
    Benchmark("translation", "benchmarks/translation.py", ("--quick",)),
    Benchmark("orchestration", "benchmarks/orchestration.py"),
    Benchmark("fetch", "benchmarks/fetch.py", ("--pages", "1000")),
    Benchmark("reprocess", "benchmarks/reprocess.py", ("--docs", "2000")),
    Benchmark("extraction", "benchmarks/extraction.py"),
    Benchmark("language", "benchmarks/language.py"),
    Benchmark("main_job", "benchmarks/main_job.py"),
)


@dataclass
class Run:
    """How one benchmark ran: when, at which commit, how long, its exit status."""

    benchmark: str
    command: str
    date: str
    commit: str
    seconds: float
    status: str  # "ok", "exit N", "missing"
    results: list[Result] = field(default_factory=list)
    load: str = ""  # 1-minute load average when it started: other processes share the cores


def git_commit() -> str:
    """Short commit of the checkout, with `+dirty` when tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """What the figures depend on: cores usable by this process, CPU, Python, OS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "cores": str(cores),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_benchmark(benchmark: Benchmark, full: bool) -> Run:
    """Run one benchmark, echo and log its output, and parse its RESULT lines."""
    command = benchmark.command(full)
    shown = shlex.join(["python", *command[1:]])
    date, commit = now_utc(), git_commit()
    if not (ROOT / benchmark.script).is_file():
        return Run(benchmark.name, shown, date, commit, 0.0, "missing")
    load = load_average()
    LOGS.mkdir(exist_ok=True)
    print(f"== {benchmark.name}: {shown}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    output: list[str] = []
    with (
        open(LOGS / f"{benchmark.name}.log", "w", encoding="utf-8") as log,
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            log.write(line)
            output.append(line)
        code = process.wait()
    seconds = time.perf_counter() - started
    try:
        results = parse_output("".join(output))
        status = "ok" if code == 0 else f"exit {code}"
    except ValueError as error:
        results, status = [], f"bad RESULT line: {error}"
    if not results and status == "ok":
        status = "ok, no RESULT lines"
    return Run(benchmark.name, shown, date, commit, seconds, status, results, load)


# --- RESULTS.md ----------------------------------------------------------------------------

HEADER = "# Benchmark results"
FIGURES = "| figure | value | unit | target | pass | note |"
RUNS = "| benchmark | command | date | commit | load | seconds | status |"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def uncell(text: str) -> str:
    return text.strip().replace("\\|", "|")


def render(runs: list[Run], info: dict[str, str], mode: str) -> str:
    """RESULTS.md: machine, then every figure, then how each benchmark ran."""
    lines = [
        HEADER,
        "",
        "Written by `make bench` (`python benchmarks/collect.py`); do not edit by hand. README's",
        "figures are copied from this table by the same command.",
        "",
        f"- updated: {now_utc()}",
        f"- mode: {mode}",
        f"- machine: {info['cores']} cores, {info['cpu']}, {info['os']}",
        f"- python: {info['python']}",
        "",
        "## Figures",
        "",
        FIGURES,
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for result in run.results:
            verdict = {True: "pass", False: "FAIL", None: "-"}[result.passed]
            lines.append(
                f"| {result.name} | {format_value(result.value)} | {cell(result.unit)} | "
                f"{cell(result.target)} | {verdict} | {cell(result.note)} |"
            )
    lines += [
        "",
        "## Runs",
        "",
        "`load`: the 1-minute load average when the benchmark started (above the core count,",
        "other processes took turns on the cores: ratios hold better than absolute speeds).",
        "",
        RUNS,
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.benchmark} | `{cell(run.command)}` | {run.date} | {run.commit} | "
            f"{run.load} | {run.seconds:.0f} | {cell(run.status)} |"
        )
    return "\n".join(lines) + "\n"


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the markdown table that starts with `header`."""
    lines = text.splitlines()
    try:
        start = lines.index(header) + 2
    except ValueError:
        return []
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([uncell(c) for c in cells])
    return rows


def read_results(text: str) -> list[Run]:
    """The runs and figures of a RESULTS.md (what `render` wrote)."""
    runs: dict[str, Run] = {}
    for name, command, date, commit, load, seconds, status in table_rows(text, RUNS):
        runs[name] = Run(name, command.strip("`"), date, commit, float(seconds), status, [], load)
    for name, value, unit, target, _verdict, note in table_rows(text, FIGURES):
        result = make_result(name, float(value), unit=unit, target=target, note=note)
        benchmark = name.split(".", 1)[0]
        owner = runs.setdefault(benchmark, Run(benchmark, "", "", "", 0.0, "unknown"))
        owner.results.append(result)
    return list(runs.values())


def figures(runs: list[Run]) -> dict[str, Result]:
    return {result.name: result for run in runs for result in run.results}


# --- README --------------------------------------------------------------------------------


def display(value: float) -> str:
    """How README shows a figure: whole numbers as they are, else 3 significant digits, with
    thousands separated (0, 46.0, 2.81, 0.972, 3,300)."""
    if value == int(value) or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) < 1:  # scores and fractions: F1 0.972 vs 0.970 is the difference that matters
        return f"{value:.3f}"
    return f"{value:.2f}"


def update_readme(text: str, known: dict[str, Result]) -> tuple[str, list[str]]:
    """README with every marker's value rewritten from `known`; also the names it lacks."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        result = known.get(match["name"])
        if result is None:
            missing.append(match["name"])
            return match[0]
        return f"<!-- bench:{match['name']} -->{display(result.value)}<!-- /bench -->"

    return MARKER.sub(replace, text), missing


def readme_quotes(text: str) -> dict[str, str]:
    """Figure name → the value README shows for it."""
    return {match["name"]: match["value"] for match in MARKER.finditer(text)}


def write_readme(known: dict[str, Result]) -> bool:
    """Rewrite README's quoted figures; False (and say which) if it quotes an unknown one."""
    if not README.is_file():
        return True
    text, missing = update_readme(README.read_text(encoding="utf-8"), known)
    README.write_text(text, encoding="utf-8")
    for name in missing:
        print(f"README quotes {name}, which no benchmark reported")
    return not missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the benchmarks' full defaults")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument(
        "--readme-only", action="store_true", help="run nothing: rewrite README from RESULTS.md"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    if args.readme_only:
        if not args.output.is_file():
            parser.error(f"{args.output} does not exist: run the benchmarks first")
        return 0 if write_readme(figures(read_results(args.output.read_text()))) else 1
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    previous = read_results(args.output.read_text()) if args.output.is_file() else []
    runs = {run.benchmark: run for run in previous} if names else {}
    for benchmark in BENCHMARKS:
        if names and benchmark.name not in names:
            continue
        runs[benchmark.name] = run_benchmark(benchmark, args.full)
    order = [b.name for b in BENCHMARKS]
    ordered = sorted(
        runs.values(), key=lambda r: order.index(r.benchmark) if r.benchmark in order else 99
    )
    args.output.write_text(render(ordered, machine(), "full" if args.full else "quick"))
    print(f"\nwrote {args.output}")
    failed = [r for run in ordered for r in run.results if r.passed is False]
    for result in failed:
        print(f"target missed: {result.name}={format_value(result.value)} (target {result.target})")
    if not args.no_readme:
        write_readme(figures(ordered))
    broken = [run for run in ordered if run.status not in ("ok", "missing", "ok, no RESULT lines")]
    return 1 if failed or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())

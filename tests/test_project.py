"""Project rules that CI enforces: the library never imports Prefect, the code is ruff clean,
the repository is self-contained (no data read from beside the clone) and nothing skips silently."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import DATA, ROOT

LIBRARY_MODULES = [
    "ingest.models",
    "ingest.config",
    "ingest.inputs",
    "ingest.fetch",
    "ingest.discover",
    "ingest.archive",
    "ingest.read",
    "ingest.sources_file",
    "ingest.encoding",
    "ingest.extract",
    "ingest.language",
    "ingest.translate",
    "ingest.store",
    "ingest.dedup",
    "ingest.pipeline",
    "ingest.reprocess",
    "ingest.cli.main",
]


def test_library_imports_no_prefect():
    code = (
        "import importlib, sys\n"
        f"for name in {LIBRARY_MODULES!r}: importlib.import_module(name)\n"
        "from ingest.cli.main import load_commands; load_commands()\n"
        "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_clean():
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def _constraints() -> dict[str, str]:
    """constraints.txt as {normalised name: version}."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_suite_runs_on_the_pinned_versions():
    """The versions recorded in constraints.txt are the ones installed here, so a green suite
    certifies exactly what `make setup` installs on a user's machine."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    wrong = []
    for name, pinned in _constraints().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name}: pinned {pinned}, not installed")
            continue
        if Version(installed).public != Version(pinned).public:
            wrong.append(f"{name}: pinned {pinned}, installed {installed}")
    assert not wrong, "venv differs from constraints.txt (make setup, or make lock): " + "; ".join(
        wrong
    )


def test_declared_ranges_admit_the_pins():
    """Every dependency in pyproject (extras included) is pinned, inside its declared range."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + [
        r for name in ("dev", "postgres", "dask") for r in extras[name]
    ]
    pins = _constraints()
    problems = []
    for text in declared:
        requirement = Requirement(text)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in constraints.txt")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} outside {requirement.specifier}")
    assert not problems, "; ".join(problems)


# A path to the workshop's data folder beside the clone (written as a relative "../" path, as the
# absolute workshop path, or as pathlib's `parent / "shared"`) exists only on the workshop machine.
OUTSIDE_DATA = re.compile(r"""\.\./+shared\b|/work/+shared\b|/\s*['"]shared['"]""")
SCANNED = ["tests", "benchmarks", "scripts", ".ci", "README.md", "Makefile"]
BINARY_SUFFIXES = (".gz", ".argosmodel", ".pyc")
PROVENANCE_NOTE = DATA / "README.md"  # may say where the data was copied from
THIS_FILE = Path(__file__).resolve()  # its examples spell out what the scan rejects


def _text_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        for candidate in [path] if path.is_file() else sorted(path.rglob("*")):
            if not candidate.is_file() or "__pycache__" in candidate.parts:
                continue
            if candidate in (PROVENANCE_NOTE, THIS_FILE) or candidate.suffix in BINARY_SUFFIXES:
                continue
            files.append(candidate)
    return files


def test_pattern_catches_every_spelling_of_a_path_outside_the_repository():
    assert OUTSIDE_DATA.search('ROOT.parent / "shared" / "seeds"')
    assert OUTSIDE_DATA.search("Path(__file__).parents[2] / 'shared'")
    assert OUTSIDE_DATA.search("see ../../../../shared/FACTS.md")
    assert OUTSIDE_DATA.search("--index ../shared/argos/index.json")
    assert OUTSIDE_DATA.search("/work/shared/seeds")
    assert not OUTSIDE_DATA.search("a store shared by several machines")
    assert not OUTSIDE_DATA.search('DATA / "langid" / "shared_words.txt"')


def test_nothing_reads_data_from_outside_the_repository():
    offenders = []
    for path in _text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixture
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DATA.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert len(_text_files()) > 50  # the scan really walked the tree
    assert not offenders, "use tests/data (conftest.DATA) instead:\n" + "\n".join(offenders)


def test_every_data_set_has_a_licence_or_source_and_is_described():
    described = PROVENANCE_NOTE.read_text(encoding="utf-8")
    sets = [DATA / "seeds", DATA / "argos", DATA / "langid"]
    sets += sorted(p for p in (DATA / "extraction").iterdir() if p.is_dir())
    assert len(sets) == 5
    for folder in sets:
        notes = [p.name for p in folder.iterdir() if p.stem.upper() in ("LICENSE", "SOURCE")]
        assert notes, f"{folder.relative_to(ROOT)} has no LICENSE or SOURCE file"
        assert f"`{folder.relative_to(DATA).as_posix()}/" in described, (
            f"{folder.name} not described"
        )


def _run_require(tmp_path: Path, env_overrides: dict[str, str], **require_kwargs) -> str:
    """Run one test calling conftest.require(False, ...) in a fresh pytest; its summary line."""
    test_file = tmp_path / "test_requirement.py"
    test_file.write_text(
        textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT / "tests")!r})
            from conftest import require

            def test_needs_something():
                require(False, "the thing is missing", **{require_kwargs!r})
        """),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "INGEST_SKIP_X")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, **env_overrides},
        timeout=120,
    )
    return result.stdout.strip().splitlines()[-1] + "\n" + result.stdout


def test_require_fails_in_ci_and_skips_with_the_reason_elsewhere(tmp_path):
    in_ci = _run_require(tmp_path, {"CI": "true"})
    assert "1 failed" in in_ci and "the thing is missing" in in_ci, in_ci
    local = _run_require(tmp_path, {})
    assert "1 skipped" in local and "the thing is missing" in local, local
    opt_out_unset = _run_require(tmp_path, {}, opt_out="INGEST_SKIP_X")
    assert "1 failed" in opt_out_unset and "INGEST_SKIP_X=1" in opt_out_unset, opt_out_unset
    opted_out = _run_require(tmp_path, {"INGEST_SKIP_X": "1"}, opt_out="INGEST_SKIP_X")
    assert "1 skipped" in opted_out, opted_out
    opted_out_in_ci = _run_require(
        tmp_path, {"CI": "true", "INGEST_SKIP_X": "1"}, opt_out="INGEST_SKIP_X"
    )
    assert "1 failed" in opted_out_in_ci, opted_out_in_ci

"""Project rules that CI enforces: the library never imports Prefect, the code is ruff clean."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

LIBRARY_MODULES = [
    "ingest.models",
    "ingest.config",
    "ingest.inputs",
    "ingest.fetch",
    "ingest.discover",
    "ingest.archive",
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

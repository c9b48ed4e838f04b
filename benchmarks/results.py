"""One stable line per benchmark figure, so `make bench` can collect them into RESULTS.md.

Every benchmark calls `report(...)` for each figure the README may quote; it prints

    RESULT translation.engine_vs_argos_beam4=2.81 unit=x target=>=2.5 pass=yes note='same beam'

`name` is `<benchmark>.<figure>` (lower case, dots/underscores/dashes), `value` a number,
`target` a comparison (`>=2.5`, `<=0.10`, `>20`) or absent (then `pass=-`: a figure reported
for information, never a verdict). `parse_line` reads such a line back; the collector
(`benchmarks/collect.py`) uses it, so the format lives in one place.
"""

from __future__ import annotations

import math
import operator
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "RESULT"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
TARGET = re.compile(r"^(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)$")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Result:
    """One reported figure: `passed` is None when there is no target."""

    name: str
    value: float
    unit: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def line(self) -> str:
        """The RESULT line for this figure (what `parse_line` reads back)."""
        fields = [f"{PREFIX} {self.name}={format_value(self.value)}"]
        if self.unit:
            fields.append(f"unit={shlex.quote(self.unit)}")
        if self.target:
            fields.append(f"target={self.target}")
        fields.append("pass=" + {True: "yes", False: "no", None: "-"}[self.passed])
        if self.note:
            fields.append(f"note={shlex.quote(self.note)}")
        return " ".join(fields)


def format_value(value: float) -> str:
    """Four significant digits: enough for a noisy ratio, stable in text."""
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


def normalise_target(target: str) -> str:
    """`' >= 2.5 '` → `'>=2.5'`; a ValueError for anything that is not one comparison."""
    match = TARGET.match(target.strip())
    if not match:
        raise ValueError(f"target must look like '>=2.5' or '<=0.1', not {target!r}")
    return f"{match[1]}{match[2]}"


def meets(value: float, target: str) -> bool:
    """Whether `value` satisfies `target` (e.g. `'>=2.5'`)."""
    match = TARGET.match(normalise_target(target))
    assert match is not None
    return COMPARISONS[match[1]](value, float(match[2]))


def make_result(
    name: str, value: float, *, unit: str = "", target: str = "", note: str = ""
) -> Result:
    """A checked Result: a valid name, a finite value, a normalised target and its verdict."""
    if not NAME.match(name):
        raise ValueError(f"result name must match {NAME.pattern}, not {name!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"result {name} is not a finite number: {value}")
    target = normalise_target(target) if target else ""
    passed = meets(value, target) if target else None
    return Result(name, value, unit, target, passed, note.replace("\n", " ").strip())


def report(name: str, value: float, *, unit: str = "", target: str = "", note: str = "") -> Result:
    """Print one RESULT line (flushed) and return it, e.g.

    report("translation.engine_vs_argos_beam4", 2.81, unit="x", target=">=2.5")
    """
    result = make_result(name, value, unit=unit, target=target, note=note)
    print(result.line(), flush=True)
    return result


def parse_line(line: str) -> Result | None:
    """The Result on a RESULT line, None for any other line; ValueError if it is malformed."""
    if not line.startswith(PREFIX + " "):
        return None
    tokens = shlex.split(line[len(PREFIX) + 1 :])
    if not tokens or "=" not in tokens[0]:
        raise ValueError(f"malformed result line: {line!r}")
    name, _, raw_value = tokens[0].partition("=")
    fields = dict(token.partition("=")[::2] for token in tokens[1:])
    result = make_result(
        name,
        float(raw_value),
        unit=fields.get("unit", ""),
        target=fields.get("target", ""),
        note=fields.get("note", ""),
    )
    recorded = fields.get("pass")
    if recorded not in (None, "-", "yes", "no"):
        raise ValueError(f"malformed pass field in {line!r}")
    return result


def parse_output(text: str) -> list[Result]:
    """Every RESULT line in a benchmark's output, in order."""
    results = []
    for line in text.splitlines():
        result = parse_line(line.strip())
        if result is not None:
            results.append(result)
    return results

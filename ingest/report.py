"""What a run tells people: short source labels, status counts, the documents needing attention.

The CLI summary and the Prefect artifacts (table and markdown) both build on these, so they
count and label documents the same way. Rows are `Outcome.as_dict()` dicts. Plain library code:
no Prefect, no rich.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Statuses whose reason a person should read: the run did not fully do its job for them.
ATTENTION_STATUSES = ("failed", "partial", "untranslated", "low-confidence")
# Widths in character cells (a CJK character takes two). The Prefect UI shows a table artifact
# without wrapping, in about 830 px of a 1400 px window: a source label, the status and a reason
# of these widths fit side by side (tests/test_prefect_ui.py measures it in chromium).
SOURCE_LABEL_WIDTH = 36
REASON_WIDTH = 56  # in the table; the markdown summary keeps the whole reason
ATTENTION_LISTED = 50  # documents listed by reason in the markdown summary, then a count


def cell_width(text: str) -> int:
    """Character cells ``text`` takes on screen: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis in the middle (both ends stay)."""
    if cell_width(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    room = width - 1
    head, used = "", 0
    for ch in text:  # the first half of the room
        if used + cell_width(ch) > (room + 1) // 2:
            break
        head, used = head + ch, used + cell_width(ch)
    tail = ""
    for ch in reversed(text):  # what is left, from the end
        if used + cell_width(ch) > room:
            break
        tail, used = ch + tail, used + cell_width(ch)
    return f"{head}…{tail}"


def local_path(url_or_path: str) -> Path | None:
    """The file a ``file://`` URL names, or ``None`` for web URLs and other text."""
    if not url_or_path.startswith("file://"):
        return None
    return Path(unquote(urlsplit(url_or_path).path))


def _anchors(roots: Iterable[str | Path]) -> tuple[Path, ...]:
    """Folders a local label may be relative to: the cwd and the folder holding each input.

    An anchor that cannot be worked out is left out: labels never fail.
    """
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # the cwd was deleted
        cwd = None
    return _anchors_from(cwd, tuple(str(root) for root in roots))


@functools.lru_cache(maxsize=16)
def _anchors_from(cwd: str | None, roots: tuple[str, ...]) -> tuple[Path, ...]:
    """`_anchors`, worked out once per cwd and inputs: a summary labels every document of a run
    against the same inputs, and resolving them each time cost seconds on 1,000 rows."""
    anchors: list[Path] = []
    if cwd is not None and Path(cwd) != Path(Path(cwd).anchor):
        anchors.append(Path(cwd))  # relative to "/" reads like a relative path, and is not
    for text in roots:
        if "://" in text and not text.startswith("file://"):
            continue  # a web input anchors nothing
        try:
            path = local_path(text) or Path(text).expanduser()
            anchors.append(path.resolve().parent)
        except (OSError, RuntimeError):  # unknown ~user, symlink loop, vanished cwd
            continue
    return tuple(anchors)


def local_label(path: Path, roots: Iterable[str | Path] = ()) -> str:
    """``path`` relative to the cwd or to an input's folder, whichever is shortest."""
    candidates = [str(path.relative_to(a)) for a in _anchors(roots) if path.is_relative_to(a)]
    return min(candidates, key=len, default=str(path))


def source_label(
    url: str, roots: Iterable[str | Path] = (), width: int | None = SOURCE_LABEL_WIDTH
) -> str:
    """A short name for a document: host + path for web pages, a relative path for local files.

    ``roots`` are the run's inputs (local ones anchor relative paths). ``width`` cuts the label
    in the middle; ``None`` keeps it whole.
    """
    path = local_path(url)
    if path is not None:
        label = local_label(path, roots)
    else:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            label = parts.netloc + (parts.path if parts.path != "/" else "")
            label += f"?{parts.query}" if parts.query else ""
        else:
            label = url
    return shorten_middle(label, width) if width else label


def one_line(text: str | None) -> str:
    """``text`` with every run of whitespace (newlines too) as one space."""
    return " ".join((text or "").split())


def reason_text(row: Mapping[str, Any]) -> str:
    """The row's reason on one line, without the "<status>: " prefix the status column shows."""
    reason = one_line(row["reason"])
    prefix = f"{row['status']}: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def status_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Documents per status, in status order."""
    return dict(sorted(Counter(row["status"] for row in rows).items()))


def needing_attention(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows of failed, partial, untranslated and low-confidence documents, in run order."""
    return [row for row in rows if row["status"] in ATTENTION_STATUSES]


def translated_text(row: Mapping[str, Any]) -> str:
    """Paragraphs translated of those not in English, e.g. "3/5"."""
    return f"{row['translated']}/{row['foreign']}"


def table_rows(
    rows: Iterable[Mapping[str, Any]], roots: Iterable[str | Path] = ()
) -> list[dict[str, Any]]:
    """The run's document table: short label, status and reason first, the full URL last."""
    roots = list(roots)
    return [
        {
            "source": source_label(row["url"], roots),
            "status": row["status"],
            "reason": shorten_middle(reason_text(row), REASON_WIDTH),
            "language": row["language"] or "",
            "translated": translated_text(row),
            "cache_hits": row["memory_hits"],
            "url": row["url"],
        }
        for row in rows
    ]


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def markdown_text(text: str) -> str:
    """``text`` escaped so a markdown renderer shows it literally (no links, emphasis, HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def summary_markdown(
    rows: Sequence[Mapping[str, Any]],
    times: Mapping[str, float] | None = None,
    roots: Iterable[str | Path] = (),
    listed: int = ATTENTION_LISTED,
    stopped: str | None = None,
) -> str:
    """The run summary: documents per status, the reason of each document needing attention
    (the first ``listed``, then how many more), and seconds per stage. ``stopped`` (why the run
    stopped early, e.g. a full disk) heads it."""
    lines = ["# ingest run", ""]
    if stopped:
        why = markdown_text(stopped)
        lines += [f"**Stopped early: {why}.** Unlisted documents were not processed.", ""]
    lines += ["| status | documents |", "|---|---|"]
    lines += [f"| {status} | {n} |" for status, n in status_counts(rows).items()]
    attention = needing_attention(rows)
    if attention:
        roots = list(roots)
        lines += ["", f"## Needing attention ({len(attention)})", ""]
        for row in attention[:listed]:
            label = markdown_code(source_label(row["url"], roots, width=None))
            reason = markdown_text(reason_text(row) or "(no reason recorded)")
            lines.append(f"- **{row['status']}** {label}: {reason}")
        if len(attention) > listed:
            more = len(attention) - listed
            lines.append(f"- … and {more} more (see the ingest-documents table)")
    if times:
        lines += ["", "## Time per stage", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {stage} | {seconds:.2f} |" for stage, seconds in times.items()]
    return "\n".join(lines)

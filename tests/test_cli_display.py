"""Text from pages, paths, URLs and the store is printed literally by every command.

rich reads `[...]` as markup: `[/red]` or `[/]` used to raise MarkupError after the run had
stored everything, `[bold]x` and `[link=…]` changed what was shown. Each command that shows
stored or input text gets such text here (in the URL, title, paragraphs and the store's path)
and must print it unchanged with its documented exit code. `ingest run` (a Prefect flow) is
covered in tests/test_run_report.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO_PACKAGES
from typer.testing import CliRunner

from ingest.cli.display import literal
from ingest.cli.main import app, load_commands

MARKUP = ["[/red]", "[/]", "[bold]x", "[link=file:///etc/passwd]"]
URL = "https://example.com/[/red]/p[/]?q=[bold]x[link=file:///etc/passwd]"
TITLE = "Harbour plan [/red] and [bold]x news"
PARAGRAPHS = [
    "The council met on Monday [/red] to discuss the harbour plan [/] in great detail today.",
    "Residents said [bold]x the plan [link=file:///etc/passwd] would bring noise and traffic.",
]


def test_literal_text_comes_out_of_rich_unchanged():
    from rich.console import Console
    from rich.text import Text

    console = Console(width=200, record=True, color_system=None)
    for text in [*MARKUP, "ends with a backslash \\", "\\[/red]", "[red]not red[/red]"]:
        console.print(literal(text))
        console.print(Text.assemble(("label:", "dim"), " ", literal(text, "bold"), " end"))
        assert console.export_text() == f"{text}\nlabel: {text} end\n"
    assert literal(None).plain == ""


@pytest.fixture
def cli(home, tmp_path, monkeypatch) -> CliRunner:
    """A runner whose store lives under a folder named with markup, on a wide terminal."""
    monkeypatch.setenv("INGEST_HOME", str(tmp_path / "home[/]"))
    monkeypatch.setenv("COLUMNS", "300")  # nothing wraps: each text is found in one piece
    load_commands()
    return CliRunner()


def _archive(tmp_path: Path) -> Path:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    html = f"<html><head><title>{TITLE}</title></head><body><article>{body}</article></body></html>"
    path = tmp_path / "in[/red]" / "pages[bold]x.jsonl"  # "/" makes a folder: "in[" / "red]"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": URL, "html": html}) + "\n", encoding="utf-8")
    return path


def test_reprocess_show_search_runs_print_markup_literally(cli, tmp_path):
    store_path = str(tmp_path / "home[/]" / "ingest.db")

    replayed = cli.invoke(app, ["reprocess", str(_archive(tmp_path))])
    assert replayed.exit_code == 0, replayed.output
    assert store_path in replayed.output and "1 ok" in replayed.output

    shown = cli.invoke(app, ["show", URL])
    assert shown.exit_code == 0, shown.output
    for text in [URL, TITLE, *PARAGRAPHS]:
        assert text in shown.output, text

    found = cli.invoke(app, ["search", "harbour"])
    assert found.exit_code == 0, found.output
    assert URL in found.output and f"1. {TITLE} (en, ok)" in found.output
    assert "[/red] to discuss the [harbour] plan [/]" in found.output  # the snippet

    listed = cli.invoke(app, ["runs"])
    assert listed.exit_code == 0, listed.output
    assert "finished" in listed.output and "1 ok" in listed.output


def test_paths_with_markup_in_errors_and_package_lists(cli, tmp_path):
    missing = str(tmp_path / "[/]missing[bold]x[link=file:///etc/passwd].warc")
    refused = cli.invoke(app, ["reprocess", missing])
    assert refused.exit_code == 2
    assert "[/]missing[bold]x" in refused.output  # typer's own error panel: literal too

    not_stored = cli.invoke(app, ["show", "https://example.com/[/red]"])
    assert not_stored.exit_code == 1
    assert "not in the store: https://example.com/[/red]" in not_stored.output

    packages = tmp_path / "packages[/red][/]"
    installed = cli.invoke(
        app, ["models", "install", str(DEMO_PACKAGES[0]), "--packages-dir", str(packages)]
    )
    assert installed.exit_code == 0, installed.output
    listed = cli.invoke(app, ["models", "list", "--installed", "--packages-dir", str(packages)])
    assert listed.exit_code == 0, listed.output
    assert str(packages) in listed.output


def test_deployment_tables_print_the_sources_path_literally(home, tmp_path, capsys, monkeypatch):
    """`ingest deploy` and `ingest serve` print this table (they need a Prefect server)."""
    from flows.deployments import deployment_specs
    from ingest.cli.deploy import _print_specs

    monkeypatch.setenv("COLUMNS", "400")
    sources = tmp_path / "cfg[/red]" / "sources[bold]x[link=file:x].toml"
    sources.parent.mkdir(parents=True)
    sources.write_text('[[sources]]\nname = "feed"\nurls = ["https://example.com/[/]"]\n')
    specs = deployment_specs(sources)
    _print_specs(specs, f"serving {sources}")
    printed = capsys.readouterr().out
    assert f"serving {sources}" in printed
    assert f"sources_file={sources}" in printed and "ingest-sources/feed" in printed

"""The one way the CLI puts page, path, URL or store text into rich output.

rich reads `[...]` in printed strings as markup: a title, paragraph, file name or URL holding
`[/red]` or `[/]` would raise `rich.errors.MarkupError` (after the run stored everything), and
`[link=…]` or `[bold]` would change what is shown. Every such value goes through `literal`, a
`rich.text.Text` that is never parsed as markup (escaping into markup strings is not enough: a
trailing backslash then shows twice or swallows the closing tag). Only the CLI's own fixed
strings may carry markup.
"""

from __future__ import annotations

from rich.text import Text


def literal(value: object, style: str = "") -> Text:
    """``value`` as text rich prints exactly as given, in ``style`` (``None`` prints nothing).

    Combine with fixed text through ``Text.assemble(("label:", "dim"), " ", literal(value))``.
    """
    return Text("" if value is None else str(value), style=style)

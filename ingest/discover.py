"""Discovery: RSS/Atom/JSON feeds and sitemaps (incl. indexes and gzip) -> page URLs.

Parsing is done with lxml in a locked-down mode (no network, no entity expansion, recovering
from broken markup), resolving relative links against the document's URL, which may be a
``file://`` URI for feeds kept on disk. ``discover_source`` walks one source of a sources file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from lxml import etree

from ingest.fetch.decode import decompress_bounded
from ingest.models import Failure
from ingest.security import link_base, link_refusal

if TYPE_CHECKING:
    from ingest.fetch import Fetcher
    from ingest.sources_file import Source

__all__ = [
    "discover_feed",
    "discover_sitemap",
    "discover_source",
    "feed_links_in_html",
    "looks_like_feed",
    "looks_like_sitemap",
]

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # sitemaps.org limit for one (uncompressed) sitemap
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
)
_GZIP_MAGIC = b"\x1f\x8b"
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "recover": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_ATOM = "http://www.w3.org/2005/Atom"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_TEXT_SITEMAP_ENTRY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:|/|\\\\)\S*")


def _gunzip(data: bytes, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """Gunzip at most ``limit`` bytes; a bomb or a corrupt tail leaves the prefix that did
    decompress (recovering parsers then read what they can), so discovery never raises."""
    if not data.startswith(_GZIP_MAGIC):
        return data[:limit]
    return decompress_bounded(data, "gzip", limit, partial=True)


def _head(data: bytes, size: int = 2048) -> bytes:
    """First bytes of the document proper: BOM, whitespace, XML declaration and comments gone."""
    if data.startswith(_GZIP_MAGIC):
        data = decompress_bounded(data, "gzip", size * 4, partial=True)
    head = data[: size * 4].lstrip(b"\xef\xbb\xbf \t\r\n")
    for _ in range(20):
        if head.startswith(b"<?"):
            head = head[head.find(b"?>") + 2 :].lstrip() if b"?>" in head else b""
        elif head.startswith(b"<!--"):
            head = head[head.find(b"-->") + 3 :].lstrip() if b"-->" in head else b""
        elif head.startswith(b"<!DOCTYPE") or head.startswith(b"<!doctype"):
            head = head[head.find(b">") + 1 :].lstrip()
        else:
            break
    return head[:size]


def looks_like_feed(data: bytes) -> bool:
    """RSS (0.9x/2.0), RSS 1.0 (RDF), Atom or JSON Feed, judged from the first bytes."""
    head = _head(data)
    lowered = head.lower()
    if lowered.startswith((b"<rss", b"<rdf:rdf", b"<feed")):
        return lowered.startswith(b"<rss") or b"rss" in lowered or b"atom" in lowered
    if head.startswith(b"{"):
        return b"jsonfeed.org" in head
    return False


def looks_like_sitemap(data: bytes) -> bool:
    """An XML sitemap or sitemap index (gzip accepted), judged from the first bytes."""
    head = _head(data).lower()
    return head.startswith((b"<urlset", b"<sitemapindex")) or (
        head.startswith(b"<") and (b":urlset" in head[:64] or b":sitemapindex" in head[:64])
    )


def _parse(data: bytes) -> etree._Element | None:
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        return None
    return root


def _local(tag: object) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _absolute(link: str, base: str) -> str | None:
    """``link`` resolved against ``base``; None only for an empty or same-document (#) link.

    Every scheme is kept (``file:``, ``data:``, ``javascript:``…): whoever turns links into
    work applies ``ingest.security.link_refusal``, so a refused link is reported, not lost.
    """
    link = link.strip()
    if not link or link.startswith("#"):
        return None
    try:
        return urljoin(base, link) if base else link
    except ValueError:  # e.g. "http://[::1/x": kept as written, refused or failed downstream
        return link


def _unique(urls: Iterator[str | None]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u))


def discover_feed(data: bytes, base_url: str) -> list[str]:
    """Item URLs of an RSS, Atom or JSON feed, absolute, in feed order, without duplicates."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return _json_feed(stripped, base_url)
    root = _parse(_gunzip(data))
    if root is None:
        return []
    return _unique(_feed_links(root, base_url))


def _feed_links(root: etree._Element, base_url: str) -> Iterator[str | None]:
    for element in root.iter():
        name = _local(element.tag)
        if name == "item":  # RSS 0.9x/2.0 and RSS 1.0
            link = next((c for c in element if _local(c.tag) == "link"), None)
            text = _text(link) or (link.get("href", "") if link is not None else "")
            if not text:
                about = element.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", "")
                guid = next((c for c in element if _local(c.tag) == "guid"), None)
                permalink = guid is not None and guid.get("isPermaLink", "true") != "false"
                text = about or (_text(guid) if permalink else "")
            yield _absolute(text, base_url)
        elif name == "entry":  # Atom
            yield _atom_entry_link(element, base_url)


def _atom_entry_link(entry: etree._Element, base_url: str) -> str | None:
    base = base_url
    for ancestor in reversed([entry, *entry.iterancestors()]):
        if ancestor.get(_XML_BASE):
            base = urljoin(base, ancestor.get(_XML_BASE))
    links = [c for c in entry if _local(c.tag) == "link" and c.get("href")]
    preferred = [c for c in links if c.get("rel", "alternate") == "alternate"]
    chosen = (preferred or links or [None])[0]
    if chosen is None:
        return None
    return _absolute(chosen.get("href", ""), urljoin(base, chosen.get(_XML_BASE, "")))


def _json_feed(data: bytes, base_url: str) -> list[str]:
    try:
        document = json.loads(data)
    except ValueError:
        return []
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return []
    return _unique(
        _absolute(str(item.get("url") or item.get("external_url") or ""), base_url)
        for item in items
        if isinstance(item, dict)
    )


def discover_sitemap(data: bytes, base_url: str) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a sitemap, sitemap index or plain-text sitemap.

    Gzip is undone, capped at 50 MB (the sitemaps.org limit): past the cap, or past corrupt
    data, the part that could be read is used. Never raises; junk gives two empty lists.
    """
    body = _gunzip(data)
    head = _head(body)
    if not head.startswith(b"<"):  # text sitemap: one URL per line
        text = body.decode("utf-8", errors="replace")
        lines = (line.strip() for line in text.splitlines())
        # lines that name something (a URL of any scheme, an absolute path): the caller
        # refuses what may not be followed instead of it vanishing here
        return _unique(u for u in lines if _TEXT_SITEMAP_ENTRY.fullmatch(u)), []
    root = _parse(body)
    if root is None:
        return [], []
    pages: list[str | None] = []
    children: list[str | None] = []
    for element in root.iter():
        name = _local(element.tag)
        if name not in ("url", "sitemap"):
            continue
        loc = next((c for c in element if _local(c.tag) == "loc"), None)
        url = _absolute(_text(loc), base_url)
        (pages if name == "url" else children).append(url)
    return _unique(iter(pages)), _unique(iter(children))


def feed_links_in_html(html: bytes, base_url: str) -> list[str]:
    """Feed URLs announced by a page (``<link rel="alternate" type="application/rss+xml">``)."""
    from lxml import html as lxml_html

    try:
        document = lxml_html.fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    wanted = {"application/rss+xml", "application/atom+xml", "application/feed+json"}
    links = _unique(
        _absolute(link.get("href", ""), base_url)
        for link in document.iter("link")
        if "alternate" in (link.get("rel") or "").lower().split()
        and (link.get("type") or "").lower() in wanted
    )
    return [link for link in links if link_refusal(link, base_url) is None]


def _read_local(location: str) -> tuple[bytes, str] | None:
    """(bytes, base URI) when ``location`` is a local path or file:// URI, else None."""
    if location.startswith("file:"):
        from urllib.request import url2pathname

        path = Path(url2pathname(urlsplit(location).path))
    elif "://" in location:
        return None
    else:
        path = Path(location)
    from ingest.localfiles import open_regular

    with open_regular(path) as fh:  # never blocks on a FIFO; refuses devices
        data = fh.read(MAX_SITEMAP_BYTES + 1)
    return data, path.resolve().as_uri()


def discover_source(
    source: Source,
    fetcher: Fetcher | None = None,
    *,
    max_sitemaps: int = 1000,
    max_depth: int = 3,
) -> Iterator[str | Failure]:
    """URLs (or local paths) of one source: its URLs, then feed items, then sitemap pages.

    Feeds and sitemaps may be local files or HTTP(S) URLs (fetched with ``fetcher``, robots and
    SSRF rules included, not archived, never conditional so a crash cannot hide items). Sitemap
    indexes are followed ``max_depth`` levels deep, at most ``max_sitemaps`` documents. A feed or
    sitemap that cannot be read yields a ``Failure(stage="discover")`` and discovery goes on, and
    so does a link that a fetched document may not name (``ingest.security.link_refusal``).
    """
    seen: set[str] = set()

    def fresh(urls: list[str], origin: str) -> Iterator[str | Failure]:
        for url in urls:
            if url in seen:
                continue
            seen.add(url)
            refusal = link_refusal(url, origin)
            if refusal:
                yield Failure(url=url, source=source.name, stage="discover", reason=refusal)
            else:
                yield url

    for url in source.urls:  # typed by the user: trusted like a command-line input
        if url not in seen:
            seen.add(url)
            yield url
    for feed in source.feeds:
        loaded = _load(feed, source.name, fetcher)
        if isinstance(loaded, Failure):
            yield loaded
            continue
        data, base = loaded
        if not looks_like_feed(data) and looks_like_sitemap(data):
            yield from fresh(discover_sitemap(data, base)[0], base)
        else:
            yield from fresh(discover_feed(data, base), base)
    # (location, the chain of indexes that led to it, the document that named it — "" when the
    # user did): a child already in its chain is a cycle, reported as a failure naming it; one
    # reached twice through different indexes is read once
    queue: list[tuple[str, tuple[str, ...], str]] = [
        (sitemap, (), "") for sitemap in source.sitemaps
    ]
    visited: set[str] = set()
    while queue and len(visited) < max_sitemaps:
        location, chain, origin = queue.pop(0)
        if location in chain:
            cycle = " -> ".join([*chain[chain.index(location) :], location])
            yield Failure(
                url=location,
                source=source.name,
                stage="discover",
                reason=f"sitemap index cycle: {cycle}",
            )
            continue
        if location in visited:
            continue
        visited.add(location)
        loaded = _load(location, source.name, fetcher, origin)
        if isinstance(loaded, Failure):
            yield loaded
            continue
        data, base = loaded
        pages, children = discover_sitemap(data, base)
        yield from fresh(pages, base)
        if children and len(chain) >= max_depth:
            yield Failure(
                url=location,
                source=source.name,
                stage="discover",
                reason=f"sitemap indexes nested deeper than {max_depth} levels: not followed",
            )
        elif children:
            queue.extend((child, (*chain, base), base) for child in children)


def _load(
    location: str, source: str, fetcher: Fetcher | None, origin: str = ""
) -> tuple[bytes, str] | Failure:
    """Bytes and base URL of a feed or sitemap named by the user (``origin`` "") or found in the
    document at ``origin``. The local read is refused when that document came over HTTP(S)."""
    refusal = link_refusal(location, origin)
    if refusal:
        return Failure(url=location, source=source, stage="discover", reason=refusal)
    try:
        local = _read_local(location)
    except OSError as error:
        return Failure(url=location, source=source, stage="discover", reason=f"unreadable: {error}")
    if local is not None:
        return local
    if fetcher is None:
        return Failure(
            url=location, source=source, stage="discover", reason="no fetcher for a remote feed"
        )
    outcome = fetcher.fetch_document(location, source=source)
    if isinstance(outcome, Failure):
        return outcome.model_copy(update={"stage": "discover"})
    return outcome.body, link_base(location, outcome.final_url)

"""Reader comments, kept only when asked for (``include_comments``): they are not the source's
text, but people who study reader reactions want them.

trafilatura finds the comment section (``include_comments=True`` puts it in ``commentsbody``,
apart from the article); this module runs that pass on a copy of the page, so the article's own
text is exactly what it is with the option off, then removes the widget debris comment
sections are made of. Mechanisms, not one site's strings:

- time stamps ("17.10.2019, 14:14", "März 7, 2018", "3 hours ago", "vor 2 Tagen", "3시간 전")
  alone or with a button or two beside them ("… Zitieren #");
- short lines naming a comment widget (reply, permalink, quote, like, report, in several
  languages) rather than saying something;
- the section's own notices at its start and end ("10 Kommentare", "Comments are closed.",
  "Sie müssen angemeldet sein …", "Leave a reply");
- user names alone: a short line right before a time stamp, a handle ("Birgit10"), an
  "Anna says:" line, a name another comment addresses ("Anna" when a reply says "Liebe
  Anna!"), or a short line the section repeats (the same author on every comment, "Reply"
  under each);
- pingbacks, trackbacks and reblogs (links from other blogs, not readers);
- a whole "section" without one line of a few words: a social-media box, a rating, a counter;
- what the article already says (a comment pass that picked up the body).
Then the article's own residual rules (widget labels, footers, the site's learned template).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence

import trafilatura
from lxml.html import HtmlElement
from trafilatura.xml import xmltotxt

from ingest.extract import clean_paragraphs, normalize_line

__all__ = ["clean_comments", "is_timestamp", "reader_comments"]

SHORT_WORDS = 4  # a line this short says little on its own: a label, a name, a count
NOTICE_WORDS = 40  # a section notice (rules, login) is at most this long
CLOSING_WORDS = 8  # a closing notice ("Comments are closed.") is short: a last reply is not
# A section with no line this long is not reader comments: trafilatura's comment search also
# matches social-media boxes, ratings and counters ("Social Media", "5 von 5 Sternen", "224")
MIN_COMMENT_WORDS = 5

_MONTHS = (
    r"jan(?:uary|uar|vier|eiro)?|feb(?:ruary|ruar|rero|braio)?|m(?:a|ä)r(?:ch|z|s|zo)?|"
    r"apr(?:il|ile)?|ma(?:y|i|j|yo|ggio)|jun(?:e|i|io)?|jul(?:y|i|io)?|aug(?:ust)?|"
    r"ago(?:sto)?|sep(?:t|tember|tiembre|tembre)?|o[ck]t(?:ober|obre)?|nov(?:ember|embre)?|"
    r"de[cz](?:ember|iembre|embre)?|dic(?:iembre|embre)?|janvier|février|avril|juin|juillet|"
    r"août|septembre|octobre|novembre|décembre|mei|maart"
)
_UNITS = (
    r"s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|"
    r"mo|months?|y|yrs?|years?"
)
_STAMPS = [
    re.compile(p, re.I)
    for p in (
        r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b\.?",  # 17.10.2019, 2019-10-17, 10/17/19
        r"\b\d{1,2}[./]\d{1,2}\.?,\s*\d{4}\b",  # 17.07, 2011
        r"\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|uhr|h)?",  # 14:14, 4:05 pm
        rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\.?,?(?:\s+\d{{4}})?",  # March 7, 2018
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?\.?\s+(?:de\s+)?(?:{_MONTHS})\.?,?(?:\s+(?:de\s+)?\d{{4}})?",
        rf"\b(?:{_MONTHS})\.?\s+\d{{4}}\b",  # Oktober 2019
        r"\d{4}\s*년\s*\d{1,2}\s*월(?:\s*\d{1,2}\s*일)?|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?",
        rf"\b(?:\d+|an?|one)\s*(?:{_UNITS})\.?\s+ago\b",  # 3 hours ago, a day ago
        r"\bvor\s+(?:\d+|einer?|einem)\s+(?:sekunden?|minuten?|stunden?|tag(?:en)?|wochen?|"
        r"monat(?:en)?|jahr(?:en)?)\b",
        r"\b(?:il y a|hace|há)\s+\d+\s+\w+",
        r"\d+\s*(?:초|분|시간|일|주|개월|달|년)\s*전",
        r"\d+\s*(?:秒|分钟|分鐘|分|小时|小時|時間|天|日|周|週間|个月|個月|か月|ヶ月|年)\s*前",
        r"\b(?:yesterday|today|just now|gestern|heute|vorgestern|hier|aujourd'hui|ayer|hoy|"
        r"어제|오늘|昨天|今天|昨日|今日)\b",
    )
]
# Words that may stand beside a stamp in a comment's header ("posted on … at …", "am … um …").
_STAMP_FILLERS = re.compile(
    r"\b(?:at|on|um|am|posted|geschrieben|publié|le|à|a las|de|el|um|uhr|edited|bearbeitet)\b"
    r"|[|,#·•@–—-]",
    re.I,
)
# Buttons and links of a comment widget, in several languages.
_WIDGET_TERMS = re.compile(
    r"\b(?:permalink|permanenter link|reply|replies|antworten|antwort|zitieren|quote|melden|"
    r"report|flag|likes?|gefällt mir|edit|bearbeiten|share|teilen|upvote|downvote|"
    r"répondre|signaler|responder|rispondi|segnala|reageren|log in to reply|delete|löschen|"
    r"entfernen)\b|\bliken|gefällt \d+ person"
    r"|답글|답장|신고|추천|비추천|공감|回复|回覆|举报|點讚|点赞|返信|通報|いいね",
    re.I,
)
# What a comment section says about itself: comments, replies, logging in, its rules.
_SECTION_TERMS = re.compile(
    r"comment|kommentar|kommentier|commentaire|comentario|commento|reactie|komentarz|коммент|"
    r"ihre meinung|deine meinung|your opinion|discussion|diskussion|diskutieren|"
    r"nutzerkonto|benutzerkonto|community|eingabefeld|loading|balasan|"
    r"\brepl(?:y|ies)\b|antwort|répon|respuest|netiquette|"
    r"\blog ?in\b|\bsign ?in\b|\bsign ?up\b|einloggen|loggen|anmelden|angemeldet|registrier|"
    r"\bconnect|inicia sesión|댓글|로그인|评论|評論|留言|登录|登入|コメント|ログイン",
    re.I,
)
_TRACKBACK = re.compile(
    r"^(?:pingback|trackback)\s*:|^\[(?:…|\.\.\.)\].*\[(?:…|\.\.\.)\]$"
    r"|^reblogged this on\b|^hat dies auf \S+ rebloggt",  # WordPress reblogs
    re.I,
)
# Where a name is addressed: "@Anna", "Hallo Anna", "Liebe Anna", "Danke Anna", "Hi Anna,"
_ADDRESS = (
    r"(?:@\s*|\b(?:hallo|hi|hey|hello|dear|liebe|lieber|liebes|liebste|cara|caro|ciao|servus|"
    r"moin|huhu|danke|thanks|thank you|grazie|merci|salut|hola|bonjour)\s*,?\s+)"
)
# "Anna says:" — the author line of WordPress-style comment templates, in several languages
_SAYS = re.compile(
    r"\b(?:says|said|wrote|writes|sagt|schreibt|schrieb|meint|meinte|dit|a écrit|dice|"
    r"escribió|scrive|ha scritto|zegt|schreef)\s*:?\s*$"
    # … and "Comment by Anna — 17.07, 2011 @ 13:04", "Kommentar von Anna"
    r"|^(?:comment|kommentar|posted|geschrieben|written|reply|antwort|commentaire|comentario)"
    r"\s+(?:by|von|de|par|di)\b",
    re.I,
)
# a stamp line that names its author ("geschrieben von anna am 21. Jan. 2015"): the short line
# above it is then the comment's title, not its author
_BYLINE = re.compile(r"\b(?:by|von|par|di|door)\s+\S", re.I)
_HANDLE = re.compile(r"^@?(?=[\w.-]*\d)(?=[\w.-]*[^\W\d_])[\w.-]{3,}$")
_ENDS_LIKE_TEXT = re.compile(r"[.!?。！？…:,;\"'”’)」』]\s*$")


def _words(line: str) -> int:
    return len(line.split())


def is_timestamp(line: str) -> bool:
    """A comment header made of a date or time (and at most two other words: a button, an
    author handle) rather than of what a reader said."""
    rest, found = line, False
    for pattern in _STAMPS:
        rest, n = pattern.subn(" ", rest)
        found = found or n > 0
    if not found:
        return False
    rest = _STAMP_FILLERS.sub(" ", rest)
    words = [w for w in rest.split() if any(c.isalpha() for c in w)]  # "16." and "2011" aside
    return len(words) <= 2 and len(" ".join(words)) <= 24


def _is_widget(line: str) -> bool:
    """A short line that names a comment button ("Gerhard am Permanenter Link", "12 Likes")."""
    return (
        _words(line) <= 6
        and not _ENDS_LIKE_TEXT.search(line)
        and _WIDGET_TERMS.search(line) is not None
    )


def _is_notice(line: str) -> bool:
    """The section talking about itself ("Comments are closed.", "Kommentar hinzufügen")."""
    return _words(line) <= NOTICE_WORDS and _SECTION_TERMS.search(line) is not None


def _is_short_label(line: str) -> bool:
    """A short line about comments, anywhere in the section ("10 Kommentare", "Comments")."""
    return _words(line) <= SHORT_WORDS and _is_notice(line) and not _ENDS_LIKE_TEXT.search(line)


def _name_like(line: str) -> bool:
    """A line that could be a user name: a few words, not punctuated like text."""
    return _words(line) <= 3 and not _ENDS_LIKE_TEXT.search(line)


def _addressed(name: str, lines: Sequence[str]) -> bool:
    """Whether another line of the section addresses ``name`` ("Liebe Anna!", "@Anna"): then
    a line holding only that name is a user name (a comment's author), not something said."""
    if not name[:1].isupper():
        return False
    pattern = re.compile(_ADDRESS + re.escape(name) + r"(?!\w)", re.I)
    return any(line != name and pattern.search(line) for line in lines)


def clean_comments(
    lines: Sequence[str],
    *,
    body: Collection[str] = (),
    site_boilerplate: Collection[str] = (),
) -> list[str]:
    """The comment paragraphs worth keeping, in order (see the module docstring)."""
    lines = [" ".join(line.split()) for line in lines]
    lines = [line for line in lines if line]
    stamps = [is_timestamp(line) for line in lines]
    counts = Counter(normalize_line(line) for line in lines)
    # the section's notices at its start and its end
    start, end = 0, len(lines)

    def chrome(index: int, words: int = NOTICE_WORDS) -> bool:  # a notice, stamp or separator
        line = lines[index]
        notice = _words(line) <= words and _is_notice(line)
        return notice or stamps[index] or not normalize_line(line)

    while start < end and chrome(start):  # rules and login prompts: long ones too
        start += 1
    while end > start and chrome(end - 1, CLOSING_WORDS):  # "Comments are closed."
        end -= 1
    body_lines = {normalize_line(p) for p in body}
    kept: list[str] = []
    seen: set[str] = set()
    for index in range(start, end):
        line, norm = lines[index], normalize_line(lines[index])
        if stamps[index] or _is_widget(line) or _is_short_label(line) or _TRACKBACK.search(line):
            continue
        if _words(line) <= 10 and _SAYS.search(line):
            continue  # "Anna says:", "Comment by Anna — 17.07, 2011"
        author_below = (
            index + 1 < len(lines) and stamps[index + 1] and not _BYLINE.search(lines[index + 1])
        )
        if _name_like(line) and (author_below or _HANDLE.match(line)):
            continue  # the author above a comment's date, or a handle alone
        if _words(line) <= SHORT_WORDS and counts[norm] > 1:
            continue  # repeated in the section: an author's name, a button's label
        if _words(line) <= 2 and _addressed(line, lines):
            continue  # a name others reply to: the author line of a comment
        if norm in body_lines or norm in seen:
            continue  # the article's text, or a comment posted twice
        seen.add(norm)
        kept.append(line)
    kept = clean_paragraphs(kept, site_boilerplate)
    if not any(_words(line) >= MIN_COMMENT_WORDS for line in kept):
        return []  # a social box, a rating or a counter, not reader comments
    return kept


def comment_lines(tree: HtmlElement, url: str | None) -> list[str]:
    """The text lines of the page's comment section as trafilatura finds it (its own pass,
    which works on a copy of the tree: the article extracted from the same tree is unchanged).

    ``fast``: the comment section is found before the article's fallbacks (readability,
    justext) run, so skipping them gives the same comments on all 759 pages of
    trafilatura_dev and scrapinghub, in 0.58x the time.
    """
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=True,
        favor_precision=True,
        include_comments=True,
        include_tables=False,
    )
    if document is None or document.commentsbody is None or len(document.commentsbody) == 0:
        return []
    return [line for line in xmltotxt(document.commentsbody, False).split("\n") if line.strip()]


def reader_comments(
    tree: HtmlElement,
    *,
    url: str | None,
    body: Collection[str] = (),
    site_boilerplate: Collection[str] = (),
) -> list[str]:
    """Clean reader-comment paragraphs of a parsed page (none when it has no comment section)."""
    return clean_comments(comment_lines(tree, url), body=body, site_boilerplate=site_boilerplate)

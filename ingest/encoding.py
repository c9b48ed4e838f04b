"""Decode HTML bytes to text, robust to wrong or missing charset declarations.

Legacy CJK pages often declare a charset that is too narrow (``gb2312`` for GBK text, ``euc-kr``
for CP949 text), declare the wrong one, or declare none. Decoding with a superset and checking
that the result reads like the language it claims avoids mojibake (trafilatura #541).
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Mapping

__all__ = ["decode_html", "normalize_charset", "declared_charsets"]

# Narrow charsets replaced by the superset browsers actually use (WHATWG encoding standard).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "euc_kr": "cp949",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "x-windows-949": "cp949",
    "windows-949": "cp949",
    "uhc": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "big5": "big5hkscs",
    "x-euc-jp": "euc_jp",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.I)
_XML_ENCODING = re.compile(rb"<\?xml[^>]+encoding\s*=\s*[\"']([A-Za-z0-9_.:\-]+)", re.I)

# A few of the most frequent characters of each script's running text. Text decoded with the
# right codec is full of them; the same bytes decoded with a sibling CJK codec are not.
_FREQUENT = {
    "ko": set(
        "이다의는에하고을가로한지서기리자정사도대시으있인국부수전장일보적해어상나라주제"
        "성원과를면공위들게동문것그신방였아여우소조회했비미중요구경관무내개계유"
    ),
    "zh": set(
        "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下"
        "自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其"
        "與這個們來為國說時會對後裡過動經"
    ),
    "ja": set(
        "のにはをたがでてとしれさかなるいもうすこあっまりくよだらきつけせおんどやえそ"
        "ノインスルトリクラシーッタカレテ日本人年月"
    ),
}
_NON_LATIN_SINGLE_BYTE = {
    "cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866", "mac-cyrillic", "cp1253", "iso8859-7",
    "cp1255", "iso8859-8", "cp1256", "iso8859-6", "cp874", "tis-620",
}  # fmt: skip
_CANDIDATES = ("utf-8", "cp949", "gb18030", "cp932", "euc_jp", "big5hkscs")


def normalize_charset(name: str | None) -> str | None:
    """Python codec name for a declared charset (using the superset), or None if unknown."""
    if not name:
        return None
    key = name.strip().strip("\"'").lower()
    key = _SUPERSETS.get(key, key)
    try:
        codec = codecs.lookup(key).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec, codec)


def declared_charsets(body: bytes, headers: Mapping[str, str] | None = None) -> list[str]:
    """Charsets the page declares: HTTP header first, then <meta>/XML declaration (deduplicated)."""
    found: list[str] = []
    for key, value in (headers or {}).items():
        if key.lower() == "content-type" and (m := _HEADER_CHARSET.search(value)):
            found.append(m.group(1))
    head = body[:16384]
    for pattern in (_META_CHARSET, _XML_ENCODING):
        if m := pattern.search(head):
            found.append(m.group(1).decode("ascii", "ignore"))
    result: list[str] = []
    for name in found:
        codec = normalize_charset(name)
        if codec and codec not in result:
            result.append(codec)
    return result


def _plausibility(text: str) -> float:
    """Share of non-ASCII characters that are frequent in some CJK language (0..1)."""
    counts = Counter(_NON_ASCII_VISIBLE.findall(text))  # distinct characters: a few thousand
    total = sum(counts.values())
    if not total:
        return 0.0
    best = 0.0
    for chars in _FREQUENT.values():
        best = max(best, sum(n for c, n in counts.items() if c in chars) / total)
    # Replacement characters and private-use code points mean the codec does not fit.
    bad = sum(n for c, n in counts.items() if c == "\ufffd" or 0xE000 <= ord(c) <= 0xF8FF)
    return best - 2 * bad / total


_NON_ASCII_VISIBLE = re.compile(r"[^\x00-\x7f\s]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        return None


def _detect(sample: bytes) -> str | None:
    """Best codec for undeclared/misdeclared non-UTF-8 bytes, by how natural the text reads."""
    scored: list[tuple[float, str]] = []
    for codec in _CANDIDATES[1:]:
        text = sample.decode(codec, errors="replace")
        scored.append((_plausibility(text), codec))
    scored.sort(reverse=True)
    if scored and scored[0][0] > 0.05:
        return scored[0][1]
    # Not CJK: Cyrillic, Greek, Hebrew, Arabic, Thai single-byte pages, else windows-1252.
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample[:16384]).best()
    except Exception:  # noqa: BLE001 - detection is best effort
        best = None
    codec = normalize_charset(best.encoding) if best is not None else None
    return codec if codec in _NON_LATIN_SINGLE_BYTE else None


def _non_ascii_sample(body: bytes, limit: int = 65536) -> bytes:
    """``limit`` bytes from the first non-ASCII byte on (markup before it says nothing).

    It starts on a character boundary; cutting runs out of the middle would split multibyte
    characters and make every codec look wrong."""
    m = re.search(rb"[\x80-\xff]", body)
    return body[m.start() : m.start() + limit] if m else b""


def decode_html(body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """Decode a page: BOM, then valid UTF-8, then the declared charset if the text is plausible,
    else the CJK/legacy codec whose text reads most naturally. Never raises."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    # Valid UTF-8 with multibyte sequences is almost never an accident, whatever is declared.
    text = _strict(body, "utf-8")
    if text is not None:
        return text
    sample = _non_ascii_sample(body)
    if _mostly_utf8(sample):
        return body.decode("utf-8", errors="replace")  # UTF-8 with a few corrupt bytes
    detected = _detect(sample)
    detected_score = _score(sample, detected) if detected else -1.0
    for codec in declared_charsets(body, headers):
        if codec == "utf-8":
            continue  # already known not to be valid UTF-8: the declaration is wrong
        score = _score(sample, codec)
        if detected and detected != codec and detected_score > score + 0.1:
            break  # the declaration is wrong: the bytes read far better in another codec
        return body.decode(codec, errors="replace")
    return body.decode(detected or "cp1252", errors="replace")


def _mostly_utf8(sample: bytes) -> bool:
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(_NON_ASCII.findall(text)) - bad
    return good >= 20 and bad <= good / 100


def _score(sample: bytes, codec: str) -> float:
    return _plausibility(sample.decode(codec, errors="replace"))

"""WARC writing and streaming archive reading, including corrupt input."""

from __future__ import annotations

import gzip
import io
import json
import random
import threading
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.archive import WarcArchive
from ingest.models import Failure, RawPage
from ingest.read import ArchiveError, iter_archive, read_record

HTML = "<html><head><title>기사</title></head><body><p>서울에서 회담이 열렸다.</p></body></html>"


def page(index: int, **extra: object) -> RawPage:
    fields: dict[str, object] = {
        "url": f"https://news.example/a/{index}",
        "source": "test",
        "body": f"{HTML}<!-- {index} -->".encode(),
        "http_status": 200,
        "headers": {"content-type": "text/html; charset=utf-8", "etag": f'"{index}"'},
    }
    fields.update(extra)
    return RawPage(**fields)


def corrupt(failures: list[Failure]) -> list[Failure]:
    """Failures from unreadable records (not pages skipped for their type)."""
    return [f for f in failures if f.stage == "read" and not f.reason.startswith("skipped")]


def pages_and_failures(items: list[RawPage | Failure]) -> tuple[list[RawPage], list[Failure]]:
    return (
        [i for i in items if isinstance(i, RawPage)],
        [i for i in items if isinstance(i, Failure)],
    )


# ---------------------------------------------------------------------------- our writer


def test_roundtrip_keeps_everything_the_pipeline_needs(tmp_path):
    moment = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)
    original = page(
        1,
        final_url="https://news.example/a/1?from=redirect",
        language_hint="ko",
        fetched_at=moment,
        headers={
            "content-type": "text/html; charset=euc-kr",
            "content-encoding": "gzip",  # describes the transfer, not the stored body
            "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT",
        },
    )
    failure = Failure(url="https://news.example/x", source="test", stage="fetch", reason="timeout")
    with WarcArchive(tmp_path) as archive:
        stored = archive.write_page(original)
        stored_failure = archive.write_failure(failure)
    assert stored.archive_path == stored_failure.archive_path
    assert stored_failure.archive_offset > stored.archive_offset > 0  # warcinfo comes first
    again = read_record(stored.archive_path, stored.archive_offset)
    assert again.model_dump(exclude={"headers"}) == stored.model_dump(exclude={"headers"})
    assert again.headers == {
        "content-type": "text/html; charset=euc-kr",
        "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    items = list(iter_archive(tmp_path))
    assert [type(i).__name__ for i in items] == ["RawPage", "Failure"]
    assert items[0] == again
    assert items[1] == stored_failure
    with pytest.raises(ArchiveError, match="not a page"):
        read_record(stored_failure.archive_path, stored_failure.archive_offset)


def test_archive_from_settings(tmp_path):
    from ingest.config import Settings

    settings = Settings(home=tmp_path, warc_max_bytes=1234)
    with WarcArchive.from_settings(settings) as archive:
        stored = archive.write_page(page(1))
    assert archive.directory == tmp_path / "archive"
    assert archive.max_file_bytes == 1234
    assert Path(stored.archive_path).parent == tmp_path / "archive"


def test_local_file_pages_become_resource_records(tmp_path):
    local = RawPage(url=(tmp_path / "a.html").as_uri(), source="dir", body=HTML.encode())
    with WarcArchive(tmp_path / "warc") as archive:
        stored = archive.write_page(local)
    again = read_record(stored.archive_path, stored.archive_offset)
    assert again.http_status is None
    assert again.url == local.url and again.body == local.body


def test_rotation_by_size_and_random_access_everywhere(tmp_path):
    with WarcArchive(tmp_path, max_file_bytes=4000) as archive:
        noise = [random.Random(i).randbytes(1500) for i in range(12)]  # incompressible
        stored = [archive.write_page(page(i, body=noise[i])) for i in range(12)]
        files = list(archive.files)
    assert len(files) >= 3
    assert {Path(p.archive_path) for p in stored} == set(files)
    for original in stored:
        again = read_record(original.archive_path, original.archive_offset)
        assert again.body == original.body and again.url == original.url
    assert [p.url for p in iter_archive(tmp_path)] == [p.url for p in stored]


def test_concurrent_writers_never_interleave(tmp_path):
    archive = WarcArchive(tmp_path, fsync=False)
    stored: list[RawPage] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for i in range(40):
            result = archive.write_page(page(worker * 1000 + i))
            with lock:
                stored.append(result)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    archive.close()
    assert len({(p.archive_path, p.archive_offset) for p in stored}) == 240
    replayed = {p.url: p.body for p in iter_archive(tmp_path)}
    assert replayed == {p.url: p.body for p in stored}


def test_torn_last_record_after_a_crash(tmp_path):
    with WarcArchive(tmp_path) as archive:
        stored = [archive.write_page(page(i)) for i in range(3)]
        path = archive.current_path
    assert path is not None
    data = path.read_bytes()
    cut = data[: stored[-1].archive_offset + (len(data) - stored[-1].archive_offset) // 2]
    path.write_bytes(cut)
    pages, failures = pages_and_failures(list(iter_archive(path)))
    assert [p.url for p in pages] == [p.url for p in stored[:2]]
    assert len(failures) == 1
    assert failures[0].stage == "read"
    assert failures[0].reason.startswith("truncated gzip member")
    assert failures[0].archive_offset == stored[-1].archive_offset


# ---------------------------------------------------------------------------- external WARCs


def write_external_warc(path: Path, *, gzip_records: bool = True) -> list[str]:
    """A Common-Crawl-style WARC written by warcio itself (not by our writer).

    Returns the URLs that must come back as pages.
    """
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_records)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))

        def response(url: str, body: bytes, headers: list[tuple[str, str]], status="200 OK"):
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http
            )
            request = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=StatusAndHeaders(
                    "GET / HTTP/1.1", [("Host", "x")], is_http_request=True
                ),
            )
            writer.write_record(request)
            writer.write_record(record)

        response("https://ko.example/1", HTML.encode(), [("Content-Type", "text/html")])
        response(
            "https://ko.example/gz",
            gzip.compress(HTML.encode("euc-kr")),
            [("Content-Type", "text/html; charset=euc-kr"), ("Content-Encoding", "gzip")],
        )
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(HTML.encode()), HTML.encode())
        response(
            "https://ko.example/chunked",
            chunked,
            [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
        )
        response("https://ko.example/logo.png", b"\x89PNG....", [("Content-Type", "image/png")])
        response(
            "https://ko.example/gone",
            b"<html>gone</html>",
            [("Content-Type", "text/html")],
            "404 Not Found",
        )
        dns = writer.create_warc_record(
            "dns:ko.example", "response", payload=io.BytesIO(b"1.2.3.4"), length=7
        )
        writer.write_record(dns)
    return ["https://ko.example/1", "https://ko.example/gz", "https://ko.example/chunked"]


@pytest.mark.parametrize("gzip_records", [True, False])
def test_external_warc(tmp_path, gzip_records):
    path = tmp_path / ("cc.warc.gz" if gzip_records else "cc.warc")
    expected = write_external_warc(path, gzip_records=gzip_records)
    pages, failures = pages_and_failures(list(iter_archive(path)))
    assert [p.url for p in pages] == expected
    assert pages[0].body == HTML.encode()
    assert pages[1].body == HTML.encode("euc-kr")  # content-encoding undone
    assert "content-encoding" not in pages[1].headers
    assert pages[2].body == HTML.encode()  # chunking undone
    assert {(f.url, f.reason) for f in failures} == {
        ("https://ko.example/logo.png", "skipped: not HTML (image/png)"),
        ("https://ko.example/gone", "http 404"),
    }
    for item in pages:
        assert read_record(item.archive_path, item.archive_offset) == item


def _member_offsets(path: Path) -> list[int]:
    from ingest.read.warc import _gzip_members

    with open(path, "rb") as fh:
        return [offset for offset, _, _ in _gzip_members(fh, record_cap=1 << 30)]


def test_corrupt_gzip_member_costs_that_record_only(tmp_path):
    path = tmp_path / "cc.warc.gz"
    expected = write_external_warc(path)
    offsets = _member_offsets(path)
    data = bytearray(path.read_bytes())
    # members: warcinfo, request, response(/1), request, response(/gz), …
    victim = offsets[4]
    data[victim + 20 : victim + 60] = b"\xff" * 40
    path.write_bytes(bytes(data))
    pages, failures = pages_and_failures(list(iter_archive(path)))
    assert [p.url for p in pages] == [expected[0], expected[2]]
    bad = corrupt(failures)
    assert len(bad) == 1
    assert bad[0].archive_offset == victim
    assert "gzip" in bad[0].reason


def test_bad_warc_header_and_garbage_between_records(tmp_path):
    path = tmp_path / "cc.warc.gz"
    expected = write_external_warc(path)
    offsets = _member_offsets(path)
    data = path.read_bytes()
    bad_member = gzip.compress(b"WARC/9.9\r\nthis is not a header\r\n\r\nxx\r\n\r\n")
    spliced = data[: offsets[3]] + bad_member + b"GARBAGE" * 5 + data[offsets[3] :]
    path.write_bytes(spliced)
    pages, failures = pages_and_failures(list(iter_archive(path)))
    assert [p.url for p in pages] == expected
    reasons = [f.reason for f in corrupt(failures)]
    assert len(reasons) == 2
    assert reasons[0].startswith("bad WARC record")
    assert reasons[1].startswith("not a gzip member")


def test_bad_record_in_uncompressed_warc_resynchronises(tmp_path):
    path = tmp_path / "cc.warc"
    expected = write_external_warc(path, gzip_records=False)
    data = path.read_bytes()
    first = data.index(b"WARC/1.", data.index(b"WARC-Target-URI: https://ko.example/gz") - 400)
    broken = data[:first] + b"XXXX/1.0 broken" + data[first + len(b"WARC/1.0") + 7 :]
    path.write_bytes(broken)
    pages, failures = pages_and_failures(list(iter_archive(path)))
    urls = [p.url for p in pages]
    assert expected[0] in urls and expected[2] in urls
    assert any(f.stage == "read" and f.reason.startswith("bad WARC record") for f in failures)


def test_body_cap_when_reading(tmp_path):
    with WarcArchive(tmp_path) as archive:
        archive.write_page(page(1, body=b"<html>" + b"x" * 5000))
        archive.write_page(page(2))
    items = list(iter_archive(tmp_path, max_body_bytes=1000))
    assert isinstance(items[0], Failure) and items[0].reason == "too large: body exceeds 1000 bytes"
    assert isinstance(items[1], RawPage)


# ---------------------------------------------------------------------------- folders and JSONL


def test_html_folder_recursive_with_file_uri_identity(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "sub" / "b.html.gz").write_bytes(gzip.compress(HTML.encode()))
    (tmp_path / "sub" / "broken.html.gz").write_bytes(gzip.compress(HTML.encode())[:30])
    (tmp_path / "notes.txt").write_text("ignored")
    items = list(iter_archive(tmp_path))
    pages, failures = pages_and_failures(items)
    assert [p.url for p in pages] == [
        (tmp_path / "a.html").resolve().as_uri(),
        (tmp_path / "sub" / "b.html.gz").resolve().as_uri(),
    ]
    assert all(p.body == HTML.encode() for p in pages)
    assert [f.url for f in failures] == [(tmp_path / "sub" / "broken.html.gz").resolve().as_uri()]
    assert failures[0].reason.startswith("unreadable file")


def test_jsonl_with_bad_lines(tmp_path):
    path = tmp_path / "pages.jsonl"
    lines = [
        json.dumps({"url": "https://a.example/1", "html": HTML}),
        "{not json",
        json.dumps({"url": "https://a.example/2"}),
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"url": "https://a.example/3", "html": HTML, "language": "ko", "status": 200}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(iter_archive(path))
    pages, failures = pages_and_failures(items)
    assert [p.url for p in pages] == ["https://a.example/1", "https://a.example/3"]
    assert pages[1].language_hint == "ko" and pages[1].http_status == 200
    assert pages[0].body == HTML.encode()
    assert [f.reason.split(":")[0] for f in failures] == [
        "bad JSON on line 2",
        "line 3",
        "line 5",
    ]
    assert failures[1].url == "https://a.example/2"
    assert read_record(str(path), pages[1].archive_offset) == pages[1]
    assert pages[0].fetched_at == pages[1].fetched_at  # the file's time, not "now"


def test_truncated_jsonl_gz_keeps_what_came_before(tmp_path):
    path = tmp_path / "pages.jsonl.gz"
    rows = "".join(
        json.dumps({"url": f"https://a.example/{i}", "html": HTML + str(i) * 500}) + "\n"
        for i in range(50)
    )
    data = gzip.compress(rows.encode())
    path.write_bytes(data[: len(data) * 2 // 3])
    pages, failures = pages_and_failures(list(iter_archive(path)))
    assert 5 < len(pages) < 50
    assert [p.url for p in pages] == [f"https://a.example/{i}" for i in range(len(pages))]
    assert len(failures) == 1 and failures[0].reason.startswith("corrupt compressed stream")


def test_unknown_file_type_is_an_error(tmp_path):
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ArchiveError):
        list(iter_archive(tmp_path / "x.csv"))
    with pytest.raises(FileNotFoundError):
        list(iter_archive(tmp_path / "missing.warc.gz"))


# ---------------------------------------------------------------------------- memory


def _peak_while_reading(directory: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = 0
        for item in iter_archive(directory):
            count += isinstance(item, RawPage)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_is_streamed_memory_stays_flat(tmp_path):
    body = (HTML * 40).encode()  # ~4 KB per record
    for name, count in (("small", 30), ("large", 360)):
        with WarcArchive(tmp_path / name, fsync=False) as archive:
            for i in range(count):
                archive.write_page(page(i, body=body))
        path = tmp_path / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(count):
                fh.write(json.dumps({"url": f"https://j.example/{i}", "html": HTML * 40}) + "\n")
        (tmp_path / name / path.name).write_bytes(path.read_bytes())
    small_count, small_peak = _peak_while_reading(tmp_path / "small")
    large_count, large_peak = _peak_while_reading(tmp_path / "large")
    assert (small_count, large_count) == (60, 720)
    # 12x the records, (nearly) the same peak: nothing accumulates per record.
    assert large_peak < small_peak * 1.5 + 256_000, (small_peak, large_peak)

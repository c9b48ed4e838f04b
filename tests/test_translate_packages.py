"""Package management in argostranslate's format: install (file/index), list, remove, safety."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DATA, ROOT, require
from typer.testing import CliRunner

from ingest.config import Settings
from ingest.translate import (
    IndexUnavailableError,
    PackageError,
    PackageNotInstalledError,
    check_package_dirs,
    default_package_dirs,
    find_available,
    install_from_index,
    install_package_file,
    list_installed,
    load_index,
    read_package,
    remove_package,
)

ARGOS_INDEX = DATA / "argos" / "index.json"  # a copy of the real index (tests/data/README.md)


def make_package(
    root: Path,
    from_code: str = "ko",
    to_code: str = "en",
    version: str = "1.0",
    *,
    folder: str | None = None,
    model: bool = True,
    tokenizer: bool = True,
    extra: dict | None = None,
) -> Path:
    """A package folder with the argos layout; model and tokenizer are the Korean demo
    package's (tiny, real: installing load-checks the model)."""
    path = root / (folder or f"translate-{from_code}_{to_code}-{version.replace('.', '_')}")
    path.mkdir(parents=True)
    metadata = {
        "package_version": version,
        "argos_version": "1.9.0",
        "from_code": from_code,
        "from_name": {"ko": "Korean", "de": "German"}.get(from_code, from_code),
        "to_code": to_code,
        "to_name": "English",
        **(extra or {}),
    }
    (path / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    files = demo_model_files()
    for name, data in files.items():
        if (model and name.startswith("model/")) or (tokenizer and name == "sentencepiece.model"):
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    return path


@functools.cache
def demo_model_files() -> dict[str, bytes]:
    """model/* and sentencepiece.model of the shipped Korean demo package, by relative name."""
    demo = ROOT / "tests" / "fixtures" / "argos" / "translate-ko_en-demo.argosmodel"
    with zipfile.ZipFile(demo) as archive:
        return {
            name.split("/", 1)[1]: archive.read(name)
            for name in archive.namelist()
            if not name.endswith("/")
            and name.split("/", 1)[1].startswith(("model/", "sentencepiece.model"))
        }


def zip_folder(folder: Path, target: Path, *, stored: bool = False) -> Path:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(target, "w", method) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return target


@pytest.fixture
def package_file(tmp_path: Path) -> Path:
    folder = make_package(tmp_path / "src")
    return zip_folder(folder, tmp_path / "translate-ko_en-1_0.argosmodel")


def entries(directory: Path) -> list[str]:
    """Everything in a packages folder, hidden leftovers included."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_install_list_remove_roundtrip(tmp_path: Path, package_file: Path) -> None:
    packages = tmp_path / "packages"
    info = install_package_file(package_file, packages)
    assert (info.from_code, info.to_code, info.package_version) == ("ko", "en", "1.0")
    assert info.key == "translate-ko_en@1.0"
    assert info.name == "Korean → English"
    assert entries(packages) == ["translate-ko_en-1_0"]  # no staging leftovers
    assert [p.key for p in list_installed([packages])] == ["translate-ko_en@1.0"]
    removed = remove_package("ko", packages)
    assert removed.key == info.key
    assert entries(packages) == []
    with pytest.raises(PackageNotInstalledError):
        remove_package("ko", packages)


@pytest.mark.parametrize("name", ["translate-ko_en", "translate-ko_en-1_0", "ko"])
def test_remove_by_code_folder_or_language(tmp_path: Path, package_file: Path, name: str) -> None:
    packages = tmp_path / "packages"
    install_package_file(package_file, packages)
    assert remove_package(name, packages).from_code == "ko"
    assert list_installed([packages]) == []


def test_newer_version_replaces_older_of_same_pair(tmp_path: Path, package_file: Path) -> None:
    packages = tmp_path / "packages"
    install_package_file(package_file, packages)
    newer = zip_folder(
        make_package(tmp_path / "src2", version="1.1"), tmp_path / "translate-ko_en-1_1.argosmodel"
    )
    info = install_package_file(newer, packages)
    assert info.key == "translate-ko_en@1.1"
    assert entries(packages) == ["translate-ko_en-1_1"]


def corrupt_crc(tmp_path: Path) -> Path:
    """A zip whose directory is fine but whose stored bytes were altered."""
    path = zip_folder(make_package(tmp_path / "crc"), tmp_path / "crc.argosmodel", stored=True)
    data = bytearray(path.read_bytes())
    offset = data.index(b'"package_version"')  # inside the stored metadata.json
    data[offset + 3] = 0x41
    path.write_bytes(bytes(data))
    return path


def truncated(tmp_path: Path) -> Path:
    path = zip_folder(make_package(tmp_path / "trunc"), tmp_path / "trunc.argosmodel")
    path.write_bytes(path.read_bytes()[:-40])
    return path


def not_a_zip(tmp_path: Path) -> Path:
    path = tmp_path / "junk.argosmodel"
    path.write_bytes(b"this is not a zip file at all")
    return path


def with_member(name: str, data: bytes = b"x", *, symlink: bool = False):
    def build(tmp_path: Path) -> Path:
        path = zip_folder(make_package(tmp_path / "evil"), tmp_path / "evil.argosmodel")
        with zipfile.ZipFile(path, "a") as archive:
            info = zipfile.ZipInfo(name)
            if symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
        return path

    return build


def two_top_folders(tmp_path: Path) -> Path:
    path = zip_folder(make_package(tmp_path / "a"), tmp_path / "two.argosmodel")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("other/metadata.json", "{}")
    return path


def missing(**kwargs):
    def build(tmp_path: Path) -> Path:
        folder = make_package(tmp_path / "m", **kwargs)
        return zip_folder(folder, tmp_path / "m.argosmodel")

    return build


def no_metadata(tmp_path: Path) -> Path:
    folder = make_package(tmp_path / "nm")
    (folder / "metadata.json").unlink()
    return zip_folder(folder, tmp_path / "nm.argosmodel")


def bad_json(tmp_path: Path) -> Path:
    folder = make_package(tmp_path / "bj")
    (folder / "metadata.json").write_text("{not json")
    return zip_folder(folder, tmp_path / "bj.argosmodel")


def mislabeled_file(tmp_path: Path) -> Path:
    """The file name says ko→en, the package inside is de→en."""
    folder = make_package(tmp_path / "w", from_code="de")
    return zip_folder(folder, tmp_path / "translate-ko_en-1_0.argosmodel")


def sbd_package(tmp_path: Path) -> Path:
    folder = make_package(tmp_path / "s", extra={"type": "sbd"})
    return zip_folder(folder, tmp_path / "s.argosmodel")


BAD_FILES = {
    "not a zip": (not_a_zip, "not a zip archive"),
    "truncated zip": (truncated, "zip"),
    "bad CRC": (corrupt_crc, "corrupt zip"),
    "parent path": (with_member("../escaped.txt"), "escapes the target"),
    "nested parent path": (with_member("pkg/../../escaped.txt"), "escapes the target"),
    "absolute path": (with_member("/tmp/escaped-ingest.txt"), "escapes the target"),
    "symlink": (with_member("translate-ko_en-1_0/link", b"/etc/passwd", symlink=True), "link"),
    "two top-level folders": (two_top_folders, "exactly one top-level folder"),
    "top-level file": (with_member("README.md"), "outside the package folder"),
    "no model dir": (missing(model=False), "missing model/"),
    "no tokenizer": (missing(tokenizer=False), "sentencepiece.model"),
    "no metadata": (no_metadata, "no metadata.json"),
    "invalid metadata": (bad_json, "not valid JSON"),
    "wrong pair in file name": (mislabeled_file, "wrong language pair"),
    "not a translation package": (sbd_package, "not a translation package"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_package_files_fail_cleanly(tmp_path: Path, package_file: Path, case: str) -> None:
    build, message = BAD_FILES[case]
    packages = tmp_path / "packages"
    install_package_file(package_file, packages)  # a good package already installed
    before = {p: p.stat().st_mtime_ns for p in packages.rglob("*")}
    bad = build(tmp_path)
    with pytest.raises(PackageError, match=message):
        install_package_file(bad, packages)
    after = {p: p.stat().st_mtime_ns for p in packages.rglob("*")}
    assert after == before, "a failed install changed the packages folder"
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/escaped-ingest.txt").exists()
    assert [p.key for p in list_installed([packages])] == ["translate-ko_en@1.0"]


def test_expected_pair_is_enforced(tmp_path: Path, package_file: Path) -> None:
    packages = tmp_path / "packages"
    with pytest.raises(PackageError, match="expected de→en"):
        install_package_file(package_file, packages, expected_pair=("de", "en"))
    assert list_installed([packages]) == []


def test_code_contradicting_languages_is_invalid(tmp_path: Path) -> None:
    folder = make_package(tmp_path, extra={"code": "translate-ja_en"})
    with pytest.raises(PackageError, match="contradicts"):
        read_package(folder)


def test_first_folder_wins_and_invalid_folders_are_skipped(tmp_path: Path) -> None:
    ours, argos = tmp_path / "ours", tmp_path / "argos"
    make_package(ours, version="2.0")
    make_package(argos, version="1.0")
    make_package(argos, from_code="de", version="1.5")
    make_package(ours, from_code="ja", model=False)  # broken: skipped, reported
    found = {p.from_code: p.key for p in list_installed([ours, argos, tmp_path / "absent"])}
    assert found == {"ko": "translate-ko_en@2.0", "de": "translate-de_en@1.5"}
    problems = check_package_dirs([ours])
    assert [path.name for path, _ in problems] == ["translate-ja_en-1_0"]


def test_default_package_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "argos"))
    settings = Settings(home=tmp_path / "home")
    assert default_package_dirs(settings) == [tmp_path / "home" / "packages", tmp_path / "argos"]


def test_packages_interoperate_with_argostranslate(tmp_path: Path, package_file: Path) -> None:
    """A package we install is read by argostranslate, and one argos installs is read by us.

    argostranslate's ``install_from_path`` is a plain ``extractall`` into its folder (it then
    imports torch only to clear a cache), so the second half extracts the same way.
    """
    ours = install_package_file(package_file, tmp_path / "ours")
    argos_dir = tmp_path / "argos"
    other = zip_folder(
        make_package(tmp_path / "src-de", from_code="de"), tmp_path / "translate-de_en.argosmodel"
    )
    with zipfile.ZipFile(other) as archive:
        archive.extractall(argos_dir)
    script = (
        "import sys, pathlib, argostranslate.package as p\n"
        "for pk in p.get_installed_packages([pathlib.Path(d) for d in sys.argv[1:]]):\n"
        "    print(pk.from_code, pk.to_code, pk.package_version)\n"
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(ours.path.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ko", "en", "1.0"]
    assert [p.key for p in list_installed([argos_dir])] == ["translate-de_en@1.0"]


# --- the index ---------------------------------------------------------------------------------


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def index_entry(from_code: str, version: str, links: list[str]) -> dict:
    return {
        "package_version": version,
        "argos_version": "1.9.0",
        "from_code": from_code,
        "from_name": from_code,
        "to_code": "en",
        "to_name": "English",
        "links": links,
        "code": f"translate-{from_code}_en",
    }


def test_install_from_index_downloads_newest(tmp_path: Path, file_server, package_file) -> None:
    url, www = file_server
    newer = make_package(tmp_path / "v12", version="1.2")
    zip_folder(newer, www / "translate-ko_en-1_2.argosmodel")
    dead = f"http://127.0.0.1:{closed_port()}/gone.argosmodel"
    index = [
        index_entry("ko", "1.1", [f"{url}/missing.argosmodel"]),
        index_entry("ko", "1.2", [dead, f"{url}/translate-ko_en-1_2.argosmodel"]),
    ]
    (www / "index.json").write_text(json.dumps(index))
    packages = tmp_path / "packages"
    info = install_from_index("ko", packages, index=f"{url}/index.json", timeout=5)
    assert info.key == "translate-ko_en@1.2"
    assert entries(packages) == ["translate-ko_en-1_2"]


def test_install_from_index_rejects_wrong_pair(tmp_path: Path, file_server) -> None:
    url, www = file_server
    zip_folder(make_package(tmp_path / "de", from_code="de"), www / "pkg.argosmodel")
    index = [index_entry("ko", "1.0", [f"{url}/pkg.argosmodel"])]
    packages = tmp_path / "packages"
    with pytest.raises(PackageError, match="wrong language pair"):
        install_from_index("ko", packages, index=index, timeout=5)
    assert entries(packages) == []


def test_install_from_index_unreachable_links(tmp_path: Path) -> None:
    index = [index_entry("ko", "1.0", [f"http://127.0.0.1:{closed_port()}/x.argosmodel"])]
    packages = tmp_path / "packages"
    with pytest.raises(PackageError, match="could not download translate-ko_en@1.0"):
        install_from_index("ko", packages, index=index, timeout=5)
    with pytest.raises(PackageError, match="no ja→en package"):
        install_from_index("ja", packages, index=index, timeout=5)
    assert entries(packages) == []


def test_unreachable_index_is_reported() -> None:
    with pytest.raises(IndexUnavailableError, match="unreachable"):
        load_index(f"http://127.0.0.1:{closed_port()}/index.json", timeout=5)


def test_reads_the_real_argos_index_copy() -> None:
    require(ARGOS_INDEX.is_file(), f"argos index copy missing: {ARGOS_INDEX}")
    packages = load_index(ARGOS_INDEX)
    assert len(packages) >= 90
    korean = find_available(packages, "ko", "en")
    assert korean is not None and korean.links and korean.code == "translate-ko_en"


# --- CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def cli(home: Path):
    import ingest.cli.translate  # noqa: F401  registers the commands
    from ingest.cli.app import app

    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, list(args), **kw)


def test_cli_models_install_list_remove(cli, home: Path, package_file: Path, tmp_path) -> None:
    result = cli("models", "install", str(package_file))
    assert result.exit_code == 0, result.output
    assert "installed translate-ko_en@1.0" in result.output
    assert (home / "packages" / "translate-ko_en-1_0" / "metadata.json").exists()

    index = tmp_path / "index.json"
    index.write_text(json.dumps([index_entry("ko", "1.1", []), index_entry("de", "1.0", [])]))
    listed = cli("models", "list", "--index", str(index))
    assert listed.exit_code == 0, listed.output
    assert "ko→en  translate-ko_en@1.0" in listed.output
    assert "translate-ko_en@1.1  ko → English  [installed 1.0]" in listed.output
    assert "translate-de_en@1.0" in listed.output

    offline = cli("models", "list", "--index", f"http://127.0.0.1:{closed_port()}/index.json")
    assert offline.exit_code == 0
    assert "ko→en  translate-ko_en@1.0" in offline.output
    assert "package index unreachable" in offline.output

    removed = cli("models", "remove", "translate-ko_en")
    assert removed.exit_code == 0 and "removed translate-ko_en@1.0" in removed.output
    assert "Installed: none" in cli("models", "list", "--installed").output


def test_cli_install_bad_file_exits_nonzero(cli, home: Path, tmp_path: Path) -> None:
    bad = not_a_zip(tmp_path)
    result = cli("models", "install", str(bad))
    assert result.exit_code == 1
    assert "not a zip archive" in result.output
    assert not list_installed([home / "packages"])


def test_cli_install_several_files(cli, home: Path, tmp_path: Path) -> None:
    files = [
        zip_folder(make_package(tmp_path / code, from_code=code), tmp_path / f"{code}.argosmodel")
        for code in ("ko", "de")
    ]
    result = cli("models", "install", *map(str, files))
    assert result.exit_code == 0, result.output
    assert {p.from_code for p in list_installed([home / "packages"])} == {"ko", "de"}
    shutil.rmtree(home)

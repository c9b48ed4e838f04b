"""Translation packages in argostranslate's own format: list, install (file or index), remove.

A package is a folder holding ``metadata.json``, a CTranslate2 ``model/`` and a tokenizer
(``sentencepiece.model`` or ``bpe.model``); a ``.argosmodel`` file is a zip of exactly one such
folder. We read and write the same layout as argostranslate so packages installed by either
tool work in both. Unlike ``argostranslate.package.install_from_path`` we never extract into the
live folder: a package is unpacked into a temporary folder next to the target, validated, then
moved into place with one rename, so a bad file leaves nothing half-installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.config import Settings

ARGOS_DEFAULT_INDEX_BASE = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
TOKENIZER_FILES = ("sentencepiece.model", "bpe.model")
_TMP_PREFIX = ".ingest-tmp-"
_FILENAME_PAIR = re.compile(r"^translate-([A-Za-z]+)_([A-Za-z]+)(?:-.*)?$")
_MAX_UNCOMPRESSED = 8 * 1024**3  # refuse zip bombs; the largest argos packages are < 1 GB

_install_lock = threading.Lock()


class PackageError(Exception):
    """An invalid or corrupt package file or folder, or a failed install/remove."""


class PackageNotInstalledError(PackageError, LookupError):
    """``remove`` was asked for a package that is not installed in the given folder."""


class IndexUnavailableError(PackageError):
    """The package index could not be read (offline, bad URL, invalid JSON)."""


class NoPackageError(LookupError):
    """No installed package translates ``from_code`` into ``to_code``."""

    def __init__(self, from_code: str, to_code: str = "en") -> None:
        self.from_code = from_code
        self.to_code = to_code
        hint = from_code if to_code == "en" else f"{from_code} --to {to_code}"
        super().__init__(f"no {from_code}→{to_code} package (run: ingest models install {hint})")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PackageInfo:
    """One installed package; ``key`` names it in provenance and in the translation memory."""

    code: str
    from_code: str
    to_code: str
    package_version: str
    path: Path
    name: str
    argos_version: str = ""
    tokenizer: str = "sentencepiece.model"  # file name of the tokenizer inside ``path``
    target_prefix: str = ""
    # The confidence threshold measured for this package (metadata.json "min_confidence"),
    # None when the package carries no calibration (see ingest.translate.confidence).
    min_confidence: float | None = None

    @property
    def key(self) -> str:
        return f"{self.code}@{self.package_version}"

    @property
    def model_path(self) -> Path:
        return self.path / "model"

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.tokenizer


@dataclass(frozen=True)
class AvailablePackage:
    """One entry of an Argos package index."""

    code: str
    from_code: str
    to_code: str
    package_version: str
    argos_version: str
    from_name: str
    to_name: str
    links: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.code}@{self.package_version}"


# --- folders ---------------------------------------------------------------------------------


def argos_packages_dir() -> Path:
    """Where argostranslate itself installs packages (computed without importing it)."""
    env = os.environ.get("ARGOS_PACKAGES_DIR")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "argos-translate" / "packages"


def default_package_dirs(settings: Settings) -> list[Path]:
    """Our packages folder first (writable), then argos' own (read-only); first wins."""
    ours = Path(settings.resolved_packages_dir())
    dirs = [ours]
    argos = argos_packages_dir()
    if argos.resolve() != ours.resolve():
        dirs.append(argos)
    return dirs


# --- reading ---------------------------------------------------------------------------------


def _package_code(metadata: Mapping[str, Any], from_code: str, to_code: str) -> str:
    code = metadata.get("code")
    return code if isinstance(code, str) and code else f"translate-{from_code}_{to_code}"


def read_package(path: Path) -> PackageInfo:
    """Validate an unpacked package folder and describe it; raises ``PackageError``."""
    path = Path(path)
    metadata_path = path / "metadata.json"
    if not metadata_path.is_file():
        raise PackageError(f"{path}: no metadata.json (not an argos package)")
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PackageError(f"{path}: metadata.json is not valid JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise PackageError(f"{path}: metadata.json must hold a JSON object")
    kind = metadata.get("type", "translate")
    if kind != "translate":
        raise PackageError(f"{path}: package type {kind!r} is not a translation package")
    from_code, to_code = metadata.get("from_code"), metadata.get("to_code")
    if not (isinstance(from_code, str) and from_code and isinstance(to_code, str) and to_code):
        raise PackageError(f"{path}: metadata.json lacks from_code/to_code")
    code = _package_code(metadata, from_code, to_code)
    match = re.fullmatch(r"translate-([A-Za-z]+)_([A-Za-z]+)", code)
    if match and (match.group(1), match.group(2)) != (from_code, to_code):
        raise PackageError(
            f"{path}: code {code!r} contradicts from_code/to_code {from_code}→{to_code}"
        )
    model = path / "model"
    if not (model / "model.bin").is_file():
        raise PackageError(f"{path}: missing model/ folder with a CTranslate2 model.bin")
    tokenizer = next((name for name in TOKENIZER_FILES if (path / name).is_file()), None)
    if tokenizer is None:
        raise PackageError(f"{path}: missing sentencepiece.model (or bpe.model)")
    min_confidence = metadata.get("min_confidence")
    if min_confidence is not None and not (
        isinstance(min_confidence, int | float)
        and not isinstance(min_confidence, bool)
        and 0 <= min_confidence <= 1
    ):
        raise PackageError(f"{path}: metadata.json min_confidence must be a number from 0 to 1")
    from_name = str(metadata.get("from_name") or from_code)
    to_name = str(metadata.get("to_name") or to_code)
    return PackageInfo(
        code=code,
        from_code=from_code,
        to_code=to_code,
        package_version=str(metadata.get("package_version") or "0"),
        path=path,
        name=f"{from_name} → {to_name}",
        argos_version=str(metadata.get("argos_version") or ""),
        tokenizer=tokenizer,
        target_prefix=str(metadata.get("target_prefix") or ""),
        min_confidence=None if min_confidence is None else float(min_confidence),
    )


def list_installed(dirs: Sequence[Path]) -> list[PackageInfo]:
    """Valid packages in ``dirs``; for a language pair found twice the earlier folder wins.

    Invalid folders (e.g. argos' sentence-boundary packages, leftovers) are skipped silently:
    listing must work whatever else lives there. ``check_package_dirs`` reports them.
    """
    seen: dict[tuple[str, str], PackageInfo] = {}
    for directory in dirs:
        for info in _scan(Path(directory)):
            seen.setdefault((info.from_code, info.to_code), info)
    return sorted(seen.values(), key=lambda p: (p.from_code, p.to_code))


def check_package_dirs(dirs: Sequence[Path]) -> list[tuple[Path, str]]:
    """Folders in ``dirs`` that look like packages but are not valid, with the reason."""
    problems: list[tuple[Path, str]] = []
    for directory in dirs:
        for child in _children(Path(directory)):
            try:
                read_package(child)
            except PackageError as error:
                problems.append((child, str(error)))
    return problems


def _children(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        child for child in directory.iterdir() if child.is_dir() and not child.name.startswith(".")
    )


def _scan(directory: Path) -> list[PackageInfo]:
    found = []
    for child in _children(directory):
        try:
            found.append(read_package(child))
        except PackageError:
            continue
    return found


# --- installing ------------------------------------------------------------------------------


def _safe_members(archive: zipfile.ZipFile, source: Path) -> str:
    """Check every member stays inside one top-level folder; return that folder's name."""
    tops: set[str] = set()
    total = 0
    for member in archive.infolist():
        name = member.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in pure.parts:
            raise PackageError(f"{source}: unsafe path {member.filename!r} escapes the target")
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PackageError(f"{source}: symbolic link {member.filename!r} is not allowed")
        parts = [part for part in pure.parts if part not in ("", ".")]
        if not parts:
            continue
        if len(parts) == 1 and not member.is_dir():
            raise PackageError(
                f"{source}: file {member.filename!r} outside the package folder "
                "(a package holds exactly one top-level folder)"
            )
        tops.add(parts[0])
        total += member.file_size
    if len(tops) != 1:
        raise PackageError(
            f"{source}: a package must hold exactly one top-level folder, found {len(tops)}"
        )
    if total > _MAX_UNCOMPRESSED:
        raise PackageError(f"{source}: unpacks to {total} bytes, more than allowed")
    top = tops.pop()
    if top.startswith("."):
        raise PackageError(f"{source}: hidden top-level folder {top!r}")
    return top


def _check_expected(info: PackageInfo, source: Path, expected_pair: tuple[str, str] | None) -> None:
    if expected_pair is not None and (info.from_code, info.to_code) != tuple(expected_pair):
        raise PackageError(
            f"{source}: wrong language pair: expected {expected_pair[0]}→{expected_pair[1]}, "
            f"the package translates {info.from_code}→{info.to_code}"
        )
    match = _FILENAME_PAIR.match(source.name.removesuffix(".argosmodel"))
    if match and (match.group(1), match.group(2)) != (info.from_code, info.to_code):
        raise PackageError(
            f"{source}: wrong language pair: the file name says {match.group(1)}→"
            f"{match.group(2)}, the package translates {info.from_code}→{info.to_code}"
        )


def install_package_file(
    path: Path, packages_dir: Path, *, expected_pair: tuple[str, str] | None = None
) -> PackageInfo:
    """Install a ``.argosmodel`` file atomically; replaces an installed package of the same pair.

    Raises ``PackageError`` for a corrupt zip, unsafe member paths, a missing model or tokenizer,
    a model that does not load and translate one sentence, or a package for another language
    pair than ``expected_pair`` (or than its file name says).
    """
    source = Path(path)
    if not source.is_file():
        raise PackageError(f"{source}: no such file")
    if not zipfile.is_zipfile(source):
        raise PackageError(f"{source}: not a zip archive (corrupt or not an .argosmodel file)")
    packages_dir = Path(packages_dir)
    packages_dir.mkdir(parents=True, exist_ok=True)
    with _install_lock:
        staging = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=packages_dir))
        try:
            try:
                with zipfile.ZipFile(source) as archive:
                    top = _safe_members(archive, source)
                    bad = archive.testzip()
                    if bad is not None:
                        raise PackageError(f"{source}: corrupt zip (bad CRC in {bad!r})")
                    archive.extractall(staging)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
                raise PackageError(f"{source}: corrupt zip ({error})") from error
            unpacked = staging / top
            if not unpacked.is_dir():
                raise PackageError(f"{source}: top-level entry {top!r} is not a folder")
            info = read_package(unpacked)
            _check_expected(info, source, expected_pair)
            _check_model(info, source)
            return _move_into_place(unpacked, packages_dir / top, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _check_model(info: PackageInfo, source: Path) -> None:
    """Refuse a package whose model does not load or translate (e.g. a garbage model.bin)."""
    from ingest.translate.engine import ModelError, check_model, short_error

    try:
        check_model(info)
    except ModelError as error:
        cause = error.__cause__ or error
        raise PackageError(
            f"{source}: the model does not load or translate ({short_error(cause)})"
        ) from error


def _move_into_place(unpacked: Path, target: Path, staging: Path) -> PackageInfo:
    """Swap the validated folder in; an older package of the same pair is removed afterwards."""
    info = read_package(unpacked)
    packages_dir = target.parent
    replaced = [
        old
        for old in _scan(packages_dir)
        if (old.from_code, old.to_code) == (info.from_code, info.to_code)
    ]
    if target.exists() and not any(old.path == target for old in replaced):
        raise PackageError(
            f"{target} exists and is not a {info.from_code}→{info.to_code} package; remove it first"
        )
    graveyard = staging / ".replaced"
    graveyard.mkdir()
    moved: list[tuple[Path, Path]] = []
    try:
        for index, old in enumerate(replaced):
            parked = graveyard / str(index)
            os.replace(old.path, parked)
            moved.append((parked, old.path))
        os.replace(unpacked, target)
    except OSError as error:
        for parked, original in reversed(moved):  # put the old package(s) back
            os.replace(parked, original)
        raise PackageError(f"could not install into {target}: {error}") from error
    return read_package(target)


def remove_package(code_or_from: str, packages_dir: Path, to_code: str = "en") -> PackageInfo:
    """Remove an installed package given its code (translate-ko_en), folder name or source code."""
    packages_dir = Path(packages_dir)
    wanted = code_or_from.strip()
    matches = [
        info
        for info in _scan(packages_dir)
        if wanted in (info.code, info.path.name, info.key)
        or (info.from_code == wanted and info.to_code == to_code)
    ]
    if not matches:
        raise PackageNotInstalledError(f"no installed package matches {wanted!r} in {packages_dir}")
    if len(matches) > 1:
        names = ", ".join(info.path.name for info in matches)
        raise PackageError(f"{wanted!r} matches several packages ({names}); give the folder name")
    info = matches[0]
    with _install_lock:
        parked = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=packages_dir))
        os.replace(info.path, parked / "package")  # atomic: gone from listings at once
        shutil.rmtree(parked, ignore_errors=True)
    return info


# --- the index -------------------------------------------------------------------------------


def default_index_url() -> str:
    """argostranslate's documented index (``ARGOS_PACKAGE_INDEX`` overrides the base URL)."""
    base = os.environ.get("ARGOS_PACKAGE_INDEX") or ARGOS_DEFAULT_INDEX_BASE
    return base if base.endswith(".json") else base.rstrip("/") + "/index.json"


def parse_index(entries: object) -> list[AvailablePackage]:
    """Translation entries of an Argos index (other package types are skipped)."""
    if not isinstance(entries, list):
        raise IndexUnavailableError("package index must be a JSON list")
    packages = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type", "translate") != "translate":
            continue
        from_code, to_code = entry.get("from_code"), entry.get("to_code")
        if not (isinstance(from_code, str) and isinstance(to_code, str)):
            continue
        packages.append(
            AvailablePackage(
                code=_package_code(entry, from_code, to_code),
                from_code=from_code,
                to_code=to_code,
                package_version=str(entry.get("package_version") or "0"),
                argos_version=str(entry.get("argos_version") or ""),
                from_name=str(entry.get("from_name") or from_code),
                to_name=str(entry.get("to_name") or to_code),
                links=tuple(str(link) for link in entry.get("links") or ()),
            )
        )
    return packages


def load_index(
    index: str | Path | Sequence[Mapping[str, Any]] | None = None, *, timeout: float = 15.0
) -> list[AvailablePackage]:
    """Read an index from a URL, a local JSON file, or already-parsed entries.

    ``None`` means argostranslate's online index. Raises ``IndexUnavailableError`` when it
    cannot be read, so callers can say "index unreachable" and go on offline.
    """
    if index is None:
        index = default_index_url()
    if isinstance(index, Sequence) and not isinstance(index, str):
        return parse_index(list(index))
    text = str(index)
    if text.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(text, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
            return parse_index(response.json())
        except (httpx.HTTPError, ValueError) as error:
            raise IndexUnavailableError(f"package index {text} unreachable: {error}") from error
    try:
        return parse_index(json.loads(Path(text).read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise IndexUnavailableError(f"package index {text} unreadable: {error}") from error


def _version_key(version: str) -> tuple[int, Any]:
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def find_available(
    packages: Sequence[AvailablePackage], from_code: str, to_code: str = "en"
) -> AvailablePackage | None:
    """The newest index entry for a pair."""
    candidates = [p for p in packages if (p.from_code, p.to_code) == (from_code, to_code)]
    return max(candidates, key=lambda p: _version_key(p.package_version), default=None)


def download(url: str, target: Path, *, timeout: float = 60.0) -> None:
    """Stream ``url`` into ``target`` (only ever called from an explicit install)."""
    import httpx

    with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
        response.raise_for_status()
        with open(target, "wb") as handle:
            for chunk in response.iter_bytes(1 << 20):
                handle.write(chunk)


def install_from_index(
    from_code: str,
    packages_dir: Path,
    to_code: str = "en",
    index: str | Path | Sequence[Mapping[str, Any]] | None = None,
    *,
    timeout: float = 60.0,
) -> PackageInfo:
    """Download the newest ``from_code``→``to_code`` package of the index and install it.

    Tries each link in turn; the downloaded file must contain that pair.
    """
    available = find_available(load_index(index, timeout=timeout), from_code, to_code)
    if available is None:
        raise PackageError(f"the package index has no {from_code}→{to_code} package")
    if not available.links:
        raise PackageError(f"index entry {available.key} has no download link")
    packages_dir = Path(packages_dir)
    packages_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX, dir=packages_dir) as scratch:
        for url in available.links:
            name = PurePosixPath(url.split("?", 1)[0]).name or f"{available.code}.argosmodel"
            target = Path(scratch) / name
            try:
                download(url, target, timeout=timeout)
            except Exception as error:  # any transport failure: try the next mirror
                errors.append(f"{url}: {error}")
                continue
            return install_package_file(target, packages_dir, expected_pair=(from_code, to_code))
    raise PackageError(f"could not download {available.key}: " + "; ".join(errors))

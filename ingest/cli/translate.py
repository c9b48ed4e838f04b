"""`ingest models list|install|remove` and `ingest translate` (stdin -> stdout)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.app import app, models_app

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data folder (packages go to <home>/packages; default: $INGEST_HOME or "
        "~/.local/share/ingest).",
        show_default=False,
    ),
]
PackagesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--packages-dir",
        help="Where packages are installed (default: $INGEST_PACKAGES_DIR or <home>/packages).",
        show_default=False,
    ),
]
IndexOption = Annotated[
    str | None,
    typer.Option(
        "--index",
        help="Argos package index: URL or local JSON file (default: argostranslate's online "
        "index, or $ARGOS_PACKAGE_INDEX).",
        show_default=False,
    ),
]


def _settings(home: Path | None, packages_dir: Path | None, **more: Any):  # -> Settings
    from ingest.config import load_settings

    return load_settings(home=home, packages_dir=packages_dir, **more)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@models_app.command("list")
def list_models(
    home: HomeOption = None,
    packages_dir: PackagesDirOption = None,
    index: IndexOption = None,
    available: Annotated[
        bool,
        typer.Option(
            "--available/--installed",
            help="Also list packages of the index that are not installed.",
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the index.")] = 10.0,
) -> None:
    """List installed translation packages and, when the index is reachable, available ones."""
    from ingest.translate.packages import (
        IndexUnavailableError,
        check_package_dirs,
        default_package_dirs,
        list_installed,
        load_index,
    )

    dirs = default_package_dirs(_settings(home, packages_dir))
    installed = list_installed(dirs)
    typer.echo("Installed:" if installed else "Installed: none")
    for info in installed:
        where = "" if info.path.parent == dirs[0] else "  (argostranslate's folder, read-only)"
        typer.echo(f"  {info.from_code}→{info.to_code}  {info.key}  {info.path}{where}")
    for path, problem in check_package_dirs(dirs[:1]):
        typer.echo(f"  skipped {path.name}: {problem}", err=True)
    if not available:
        return
    try:
        index_packages = load_index(index, timeout=timeout)
    except IndexUnavailableError as error:
        typer.echo(f"Available: package index unreachable ({error})")
        return
    have = {(info.from_code, info.to_code): info for info in installed}
    typer.echo(f"Available ({len(index_packages)} in the index):")
    for entry in sorted(index_packages, key=lambda p: (p.from_code, p.to_code)):
        mine = have.get((entry.from_code, entry.to_code))
        if mine is None:
            state = ""
        elif mine.package_version == entry.package_version:
            state = "  [installed]"
        else:
            state = f"  [installed {mine.package_version}]"
        typer.echo(
            f"  {entry.from_code}→{entry.to_code}  {entry.key}  "
            f"{entry.from_name} → {entry.to_name}{state}"
        )


@models_app.command("install")
def install_models(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Language codes to download from the index (e.g. ko), or .argosmodel files."
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="Target language for codes.")] = "en",
    home: HomeOption = None,
    packages_dir: PackagesDirOption = None,
    index: IndexOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds per download request.")] = 60.0,
) -> None:
    """Install packages: from files (offline) or by language code from the Argos index."""
    from ingest.translate.packages import (
        PackageError,
        install_from_index,
        install_package_file,
    )

    target_dir = _settings(home, packages_dir).resolved_packages_dir()
    failed = 0
    for target in targets:
        path = Path(target)
        unusable = _unusable_local_file(path)
        if unusable:
            typer.echo(f"error: {path}: {unusable}", err=True)
            failed += 1
            continue
        try:
            if path.suffix == ".argosmodel" or path.exists():
                info = install_package_file(path, target_dir)
            else:
                info = install_from_index(target, target_dir, to, index, timeout=timeout)
        except PackageError as error:
            typer.echo(f"error: {error}", err=True)
            failed += 1
            continue
        typer.echo(f"installed {info.key} ({info.from_code}→{info.to_code}) in {info.path}")
    if failed:
        raise typer.Exit(1)


def _unusable_local_file(path: Path) -> str | None:
    """Why a local package path cannot be read (a FIFO would block the zip reader forever)."""
    from ingest.localfiles import LocalFileError, local_kind, not_regular_reason

    try:
        return not_regular_reason(path) if local_kind(path) == "other" else None
    except LocalFileError as error:
        return error.reason


@models_app.command("remove")
def remove_models(
    packages: Annotated[
        list[str],
        typer.Argument(help="Package code (translate-ko_en), folder name or source language."),
    ],
    to: Annotated[str, typer.Option("--to", help="Target language for language codes.")] = "en",
    home: HomeOption = None,
    packages_dir: PackagesDirOption = None,
) -> None:
    """Remove installed packages (only from ingest's own packages folder)."""
    from ingest.translate.packages import PackageError, remove_package

    target_dir = _settings(home, packages_dir).resolved_packages_dir()
    failed = 0
    for name in packages:
        try:
            info = remove_package(name, target_dir, to)
        except PackageError as error:
            typer.echo(f"error: {error}", err=True)
            failed += 1
            continue
        typer.echo(f"removed {info.key} from {info.path}")
    if failed:
        raise typer.Exit(1)


@app.command()
def translate(
    from_code: Annotated[str, typer.Option("--from", help="Source language code, e.g. ko.")],
    to: Annotated[str, typer.Option("--to", help="Target language code.")] = "en",
    home: HomeOption = None,
    packages_dir: PackagesDirOption = None,
    beam_size: Annotated[
        int | None, typer.Option(help="Beam size (default $INGEST_TRANSLATE_BEAM_SIZE or 1).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all).")] = None,
    memory: Annotated[
        bool,
        typer.Option(
            "--memory/--no-memory",
            help="Use and fill the store's translation memory ($INGEST_STORE_URL).",
        ),
    ] = False,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print memory hits and model sentences to stderr.")
    ] = False,
) -> None:
    """Translate standard input line by line (each line one paragraph) to standard output."""
    from ingest.errors import StoreUnwritable
    from ingest.translate import ModelError, NoPackageError, TranslationEngine

    settings = _settings(
        home,
        packages_dir,
        translate_beam_size=beam_size,
        translate_threads=threads,
    )
    lines = sys.stdin.read().splitlines()
    store = None
    translation_memory = None
    if memory:
        from ingest.store import Store

        store = Store(settings.resolved_store_url())
        translation_memory = store.translation_memory()
    try:
        engine = TranslationEngine.from_settings(settings, memory=translation_memory)
        batch = engine.translate(from_code, lines, to)
    except NoPackageError as error:
        raise _fail(str(error), 2) from None
    except (ModelError, StoreUnwritable) as error:  # a broken model, a full store: one line
        raise _fail(str(error), 3 if isinstance(error, StoreUnwritable) else 1) from None
    finally:
        if store is not None:
            store.close()
    for text in batch.texts:
        typer.echo(text)
    if stats:
        typer.echo(
            f"{batch.package_key}: {batch.model_sentences} sentences translated by the model, "
            f"{batch.memory_hits} from memory",
            err=True,
        )

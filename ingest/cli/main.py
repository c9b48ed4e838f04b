"""Entry point of the `ingest` console script, and its one error boundary.

Every command runs inside ``main``: an error the user can fix (invalid settings, a bad or
unreachable store, an output path that cannot be written, an input that is not an archive…)
ends the command with one ``error: …`` line on stderr and exit code 2, never a traceback.
The traceback is printed too with ``INGEST_DEBUG=1`` or ``-v``/``--verbose``.
"""

from __future__ import annotations

import gc
import importlib
import os
import re
import sys
from typing import TYPE_CHECKING

from ingest.cli.app import app

if TYPE_CHECKING:
    from pydantic import ValidationError

# Each module registers its commands on `app` when imported.
COMMAND_MODULES = ["run", "extract", "detect", "translate", "deploy", "reprocess", "server"]
ERROR_EXIT_CODE = 2  # like a usage error: the command did not run; the message says why
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report it


def load_commands() -> None:
    """Import every command module so its commands are registered on `app`."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"ingest.cli.{name}")


def debugging(argv: list[str]) -> bool:
    """Whether to show tracebacks: ``INGEST_DEBUG`` set (not 0/false) or a verbose flag given."""
    flag = os.environ.get("INGEST_DEBUG", "").strip().lower()
    return flag not in ("", "0", "false", "no", "off") or bool({"-v", "--verbose"} & set(argv))


def describe_error(error: BaseException) -> str | None:
    """One line for an error the user can act on; None for an unexpected one (a bug)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from ingest.read import ArchiveError
    from ingest.store import ArchiveBusyError, StoreError, describe_database_error

    if isinstance(error, ValidationError):
        return _invalid_settings(error)
    if isinstance(error, SettingsError):
        return _unparsable_setting(error)
    if isinstance(error, StoreError | ArchiveError | ArchiveBusyError):
        return str(error)
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    if isinstance(error, NoSuchModuleError | ArgumentError):
        return f"bad store URL: {_first_line(error)}"
    if isinstance(error, DBAPIError):
        return f"store error: {describe_database_error(error)}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start}: {error.reason})"
    from ingest.sources_file import SourcesFileError

    if isinstance(error, SourcesFileError):
        return str(error)
    if isinstance(error, OSError):
        from ingest.localfiles import describe_os_error

        reason = describe_os_error(error)
        return f"{error.filename}: {reason}" if error.filename else reason
    return None


def _invalid_settings(error: ValidationError) -> str:
    """``invalid setting INGEST_MAX_BYTES='abc': Input should be a valid integer …``."""
    problems = []
    for item in error.errors():
        field = str(item["loc"][0]) if item.get("loc") else "?"
        value = item.get("input")
        secret = field == "store_url"  # may hold a password
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        problems.append(f"INGEST_{field.upper()}{shown}: {item.get('msg', 'invalid')}")
    return "invalid setting " + "; ".join(problems)


def _unparsable_setting(error: BaseException) -> str:
    """pydantic-settings could not parse a list or dict setting (it must be JSON)."""
    found = re.search(r'field "([^"]+)"', str(error))
    name = f"INGEST_{found.group(1).upper()}" if found else "a setting"
    cause = f" ({_first_line(error.__cause__)})" if error.__cause__ else ""
    return f'invalid setting {name}: expected JSON, e.g. \'["en", "de"]\'{cause}'


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main() -> None:
    """Run the command; known errors become ``error: …`` on stderr and exit code 2."""
    try:
        _run()
    finally:
        # The process ends here. Freezing the objects spares Python's final garbage collection
        # over the ~1,400 modules a run imports (~0.4 s of every command). Nothing waits for it:
        # open stores are closed first (SQLite folds its WAL back into the file), the archive
        # flushes each record, and commands close the files they write.
        store = sys.modules.get("ingest.store.core")
        if store is not None:
            store.close_open_stores()
        gc.freeze()


def _run() -> None:
    load_commands()
    debug = debugging(sys.argv[1:])
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except Exception as error:  # noqa: BLE001 - the one boundary: everything becomes one line
        message = describe_error(error)
        if message is None:
            message = f"unexpected {type(error).__name__}: {_first_line(error)}"
            if not debug:
                message += " (set INGEST_DEBUG=1 to see the traceback)"
        if debug:
            import traceback

            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        sys.exit(ERROR_EXIT_CODE)


if __name__ == "__main__":
    main()

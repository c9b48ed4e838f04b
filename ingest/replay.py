"""Pages a conditional GET answered with 304, loaded again from the copy archived earlier.

A 304 means "same as the copy we archived", not "already stored": the run that archived it may
have died before storing, or the stored document may need redoing (a new extractor, template or
package). Replaying the archived copy lets the pipeline's usual unchanged check decide.
"""

from __future__ import annotations

import logging

from ingest.models import Failure, RawPage

log = logging.getLogger(__name__)


def replay_unchanged(page: RawPage | Failure) -> RawPage | Failure:
    """The archived copy of a page a 304 said is unchanged; anything else as it is.

    A missing or unreadable copy leaves the 304 failure: the store decides (a stored document
    is "unchanged", else the failure says to run again with --force).
    """
    if not (
        isinstance(page, Failure)
        and page.reason.startswith("unchanged")
        and page.archive_path is not None
        and page.archive_offset is not None
    ):
        return page
    from ingest.read import read_record

    try:
        copy = read_record(page.archive_path, page.archive_offset)
    except Exception as error:  # missing or unreadable copy: let the store decide
        log.info("no archived copy for %s: %s", page.url, error)
        return page
    return copy.model_copy(update={"url": page.url, "source": page.source})

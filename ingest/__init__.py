"""ingest: translation-aware ingestion of non-English web pages.

A plain library (no Prefect import): fetch/archive -> extract -> detect -> translate -> store.
"""

__version__ = "0.1.0"

"""Thin command-line interface over the library and the flows (one module per command group)."""

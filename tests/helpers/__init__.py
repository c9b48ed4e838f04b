"""Helpers shared by tests and benchmarks; never shipped with the library."""

"""Benchmarks: scripts run as `python benchmarks/NAME.py`; `make bench` runs them all."""

"""Benchmarks of the exotel-trunking SDK: runnable scripts that print tables and draw plots.

Run them all with ``uv run --group bench python -m benchmarks`` (see ``benchmarks/README.md``).
They are not part of the test run.
"""

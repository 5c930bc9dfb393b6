"""Benchmarks live outside tests/ so CI does not time them; run them with ``nox -s bench``."""

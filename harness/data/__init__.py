"""Benchmark data: manifests, locks, suites, pairs (manifest -> pairs in the data flow)."""

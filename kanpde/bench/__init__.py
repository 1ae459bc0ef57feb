"""Benchmarks: ``python -m kanpde.bench speed`` (or ``kanpde-bench speed``)."""

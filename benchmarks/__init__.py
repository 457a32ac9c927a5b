"""Benchmarks of deep-sparse (run as modules: ``python -m benchmarks.sweep_throughput``)."""

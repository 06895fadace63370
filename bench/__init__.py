"""Benchmarks: a loopback load generator, the stack's floor, and `make bench` (``bench.run``)."""

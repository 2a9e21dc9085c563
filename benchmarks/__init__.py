"""Benchmarks that measure the project against anchors (see docs/benchmarks.md)."""

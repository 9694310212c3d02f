"""Benchmarks of arbook's models: they print numbers (and write JSON), they never assert."""

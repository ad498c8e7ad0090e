"""Reproducible benchmarks: a seeded news corpus with planted reuse, and scripts that print medians and ratios."""

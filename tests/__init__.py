"""Tests are a package, so `from tests.fakes import …` works for pytest and mypy."""

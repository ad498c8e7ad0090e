"""Integration tests: the adapters against real datasketch and a real SQLite file."""

"""Implementations of the domain's ports: datasketch MinHash LSH index, SQLite store."""

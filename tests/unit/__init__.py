"""Unit tests: fast and in-process, with no datasketch and no network beyond loopback."""

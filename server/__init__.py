"""Dedup server: near-duplicate detection and provenance over gRPC."""

"""The core of the service: text analysis, alignment, provenance; imports only the standard library."""

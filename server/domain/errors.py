"""DedupError and its subclasses: every expected failure of a use case.

    DedupError
    ├── InvalidRequestError        the request is wrong whatever is stored (INVALID_ARGUMENT)
    │   └── InvalidDocumentError   a document cannot be stored as given: empty text, bad id, too large
    ├── DocumentNotFoundError      no document has that id (NOT_FOUND)
    ├── DocumentAlreadyExistsError the id is stored with another text and replace was not asked (ALREADY_EXISTS)
    ├── CapacityExceededError      a configured capacity was hit (RESOURCE_EXHAUSTED)
    └── StoreBusyError             another process held the store's write lock too long (UNAVAILABLE)

Messages say what to fix; the gRPC edge sends them to the client as they are.
"""


class DedupError(Exception):
    """Base class for every expected failure of a dedup use case."""


class InvalidRequestError(DedupError):
    """The request cannot be served as given, whatever is stored."""


class InvalidDocumentError(InvalidRequestError):
    """The document cannot be stored as given, e.g. its text is empty."""


class DocumentNotFoundError(DedupError):
    """No stored document has the requested id."""


class DocumentAlreadyExistsError(DedupError):
    """The id is stored with another text, and the request did not ask to replace it."""


class CapacityExceededError(DedupError):
    """A configured capacity of the server was reached."""


class StoreBusyError(DedupError):
    """Another process held the store's write lock past the wait allowed; nothing was changed, a retry may pass."""

"""Bearer tokens and their roles: the tokens file, read once at start, and a constant-time lookup.

The tokens file has one token per line with its role, ``read`` or ``write``, separated by white space;
blank lines and lines starting with ``#`` are skipped::

    # ingest pipeline
    3q2-Fh0v0lXv6cTDVzD8v1Sg1Qy9Yy3F  write
    # dashboards
    b0jU3rE3mR1Jm4h1m6Yy9p2gq8lZx0tW  read

A ``write`` token may also read. Tokens are secrets: no message or log line ever shows one.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Final

# Shorter tokens can be guessed; 16 characters of a random URL-safe alphabet are 96 bits.
MIN_TOKEN_LENGTH: Final = 16


class Role(enum.Enum):
    """What a token may do: READ calls the queries, WRITE also ingests and deletes."""

    READ = "read"
    WRITE = "write"

    def allows(self, needed: Role) -> bool:
        """Whether a token with this role may call an RPC that needs `needed`.

        >>> Role.WRITE.allows(Role.READ), Role.READ.allows(Role.WRITE)
        (True, False)
        """
        return self is Role.WRITE or needed is Role.READ


class TokenTable:
    """The tokens the server accepts, kept as SHA-256 digests, each with its role.

    >>> table = TokenTable({"reader-token-0123456789": Role.READ})
    >>> table.role_of("reader-token-0123456789"), table.role_of("guess")
    (<Role.READ: 'read'>, None)
    """

    def __init__(self, roles_by_token: Mapping[str, Role]) -> None:
        self._entries = tuple((_digest(token), role) for token, role in roles_by_token.items())

    def __len__(self) -> int:
        return len(self._entries)

    def role_of(self, token: str) -> Role | None:
        """Return the role of `token`, or None when the server does not know it."""
        presented = _digest(token)
        found: Role | None = None
        for digest, role in self._entries:
            # Every entry is compared, in constant time and without stopping at a match, so the time a lookup
            # takes tells a caller nothing about which token, or how much of one, it got right. Digests have
            # one length, so compare_digest does not leak the tokens' lengths either.
            if hmac.compare_digest(presented, digest):
                found = role
        return found


def load_tokens(path: Path) -> TokenTable:
    """Read a tokens file (format in the module docstring).

    Raises:
        ValueError: The file cannot be read or a line is malformed; the message names the line, never the token.
    """
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the tokens file {path}: {error}") from error
    roles_by_token: dict[str, Role] = {}
    for number, line in enumerate(content.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}, line {number}"
        fields = stripped.split()
        if len(fields) != 2:
            raise ValueError(f"{where}: write a token and its role (read or write), separated by a space")
        token, role_name = fields
        try:
            role = Role(role_name.lower())
        except ValueError:
            raise ValueError(f"{where}: the role must be read or write, not {role_name!r}") from None
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters; make a long random one, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not (token.isascii() and token.isprintable()):
            raise ValueError(f"{where}: the token must be printable ASCII, as HTTP/2 headers carry it")
        if token in roles_by_token:
            raise ValueError(f"{where}: the token is listed twice; give each token one role")
        roles_by_token[token] = role
    if not roles_by_token:
        raise ValueError(f"{path} lists no tokens, so every call would be refused; add a line 'TOKEN write'")
    return TokenTable(roles_by_token)


def bearer_token(authorization_values: list[str]) -> str | None:
    """Return the token of the one ``authorization: Bearer <token>`` header, or None without a usable one.

    >>> bearer_token(["Bearer abc"]), bearer_token(["bearer  abc "]), bearer_token(["Basic abc"]), bearer_token([])
    ('abc', 'abc', None, None)
    """
    if len(authorization_values) != 1:
        return None
    scheme, _, token = authorization_values[0].strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()

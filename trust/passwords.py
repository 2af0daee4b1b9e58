"""Passwords, hashed with argon2id (argon2-cffi) at OWASP's recommended cost: 19 MiB of memory,
2 passes, 1 lane. Only the encoded hash (which carries its own salt and parameters) is stored;
a password never reaches a log, an error or argv (the CLI reads it from stdin)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.errors import InvalidInput

__all__ = ["MIN_LENGTH", "hash_password", "needs_rehash", "verify_password"]

MIN_LENGTH = 12
"""Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask more)."""

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password; InvalidInput says what is wrong (never
    echoing the password)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if password != password.strip():
        raise InvalidInput("a password may not start or end with whitespace")
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True iff `password` matches the stored hash (constant-time inside argon2)."""
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when the stored hash was made with weaker parameters than today's."""
    return bool(_HASHER.check_needs_rehash(stored))

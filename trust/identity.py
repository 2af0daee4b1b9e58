"""Users, service accounts and API tokens, kept in the data directory's store (column
families `users` and `tokens`), every change with its audit record in the same write.

A user id is never reissued (ids come from a counter in meta); users are deactivated, never
deleted. Passwords are argon2id hashes (trust.passwords). Five failed sign-ins within 15
minutes lock the account for 15 minutes (an admin may unlock it sooner); each failure, the
lock and the unlock are audit records. API tokens (for ERP, MES and scanner accounts) are
`tg1.<id>.<secret>`: only the SHA-256 of the secret is stored, a token can expire and be
revoked, and its id (never the secret) names it in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.errors import InvalidInput, Unauthenticated
from trust.audit import AuditEvent, EncodedEvent, iso_ms
from trust.canonical import canonical_bytes
from trust.clock import Clock, SystemClock
from trust.passwords import hash_password, verify_password
from trust.roles import ROLES

__all__ = ["Directory", "Principal", "Records", "Token", "User"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
TOKEN_CACHE_SECONDS = 5.0
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
Put = tuple[str, bytes, bytes]


class Records(Protocol):
    """Where identity lives: the store (CLI) or the live store's writer (server), which
    serializes these writes with ingest so the audit chain stays one chain."""

    def read(self, family: str, key: bytes) -> bytes | None: ...

    def read_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]: ...

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...

    def write(self, puts: list[Put], audit: Sequence[AuditEvent | EncodedEvent], *,
              expect: Sequence[tuple[str, bytes, bytes | None]] = ()) -> None:
        """One synced write of `puts` and `audit`; `expect`: (family, key, value) that must
        hold first (None: absent), else domain.errors.Conflict and nothing is written."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, as every check and audit record sees them."""

    user_id: int
    name: str
    full_name: str
    role: str
    via: str  # password, session, token:<id>, certificate, os, no-auth

    @property
    def printed(self) -> str:
        return f"{self.full_name} ({self.name})"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    full_name: str
    role: str
    kind: str  # person or service
    active: bool = True
    password: str | None = None  # argon2id hash
    password_set_at: str | None = None
    created_at: str = ""
    failures: list[str] = field(default_factory=list)
    locked_until: str | None = None

    def public(self) -> dict[str, Any]:
        """What lists and audit records show (never the password hash)."""
        row = asdict(self)
        row.pop("password")
        row.pop("failures")
        return row


@dataclass(frozen=True)
class Token:
    id: str
    user_id: int
    digest: str  # SHA-256 of the secret
    issued_at: str
    expires_at: str | None = None
    revoked_at: str | None = None


class Directory:
    """Users and tokens over `records`; `clock` gives every time (tests move it)."""

    def __init__(self, records: Records, clock: Clock | None = None,
                 password_max_age: timedelta | None = None) -> None:
        self.records = records
        self.clock = clock or SystemClock()
        self.password_max_age = password_max_age
        # Checked API tokens, so a call costs a dict lookup, not two store reads: dropped on
        # every change made here, and after TOKEN_CACHE_SECONDS (another process, such as
        # the writer behind a read-only server, may revoke a token meanwhile).
        self._checked: dict[str, tuple[Principal, datetime | None, float]] = {}

    def _write(self, puts: list[Put], audit: list[AuditEvent]) -> None:
        self._checked.clear()
        self.records.write(puts, audit)

    # -- reading ------------------------------------------------------------------------------

    def users(self) -> list[User]:
        return [_user(value) for key, value in self.records.scan("users", b"u")
                if key.startswith(b"u")]

    def find(self, name: str) -> User | None:
        sid = self.records.read("users", b"n" + name.encode())
        if sid is None:
            return None
        value = self.records.read("users", b"u" + sid)
        return None if value is None else _user(value)

    def get(self, user_id: int) -> User | None:
        value = self.records.read("users", b"u" + _U32.pack(user_id))
        return None if value is None else _user(value)

    def has_users(self) -> bool:
        return any(True for _ in self.records.scan("users", b"u"))

    def tokens(self) -> list[Token]:
        return [Token(**json.loads(v)) for _, v in self.records.scan("tokens")]

    # -- changes (each with its audit record) ------------------------------------------------

    def add(self, name: str, role: str, by: Principal, *, full_name: str | None = None,
            password: str | None = None, kind: str = "person") -> User:
        """A new user with a fresh id; a person needs a password, a service account signs
        in with tokens only."""
        if not _NAME.match(name or ""):
            raise InvalidInput(f"user name {name!r}: 2-64 characters, lowercase letters, "
                               "digits, '.', '_' or '-', starting with a letter")
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
        if kind not in ("person", "service"):
            raise InvalidInput(f"kind {kind!r} is not person or service")
        if self.find(name) is not None:
            raise InvalidInput(f"user {name!r} exists (ids and names are never reused)")
        if kind == "person" and password is None:
            raise InvalidInput("a person needs a password (give it on stdin)")
        now = iso_ms(self.clock.now())
        last = self.records.read("meta", b"next_user")
        user_id = 1 if last is None else int(_U64.unpack(last)[0])
        user = User(user_id, name, full_name or name, role, kind,
                    password=None if password is None else hash_password(password),
                    password_set_at=None if password is None else now, created_at=now)
        puts = [("meta", b"next_user", _U64.pack(user_id + 1)), *_user_puts(user),
                ("users", b"n" + name.encode(), _U32.pack(user_id))]
        self._write(puts, [_event(by, "user.add", [name], new=user.public())])
        return user

    def set_role(self, name: str, role: str, by: Principal, reason: str) -> User:
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
        user = self._existing(name)
        changed = replace(user, role=role)
        self._write(_user_puts(changed), [_event(by, "user.set_role", [name],
                                                         reason=_reason(reason),
                                                         old=user.role, new=role)])
        return changed

    def deactivate(self, name: str, by: Principal, reason: str) -> User:
        user = self._existing(name)
        changed = replace(user, active=False)
        self._write(_user_puts(changed), [_event(by, "user.deactivate", [name],
                                                         reason=_reason(reason),
                                                         old=True, new=False)])
        return changed

    def unlock(self, name: str, by: Principal, reason: str) -> User:
        user = self._existing(name)
        changed = replace(user, failures=[], locked_until=None)
        self._write(_user_puts(changed), [_event(by, "user.unlock", [name],
                                                         reason=_reason(reason),
                                                         old=user.locked_until, new=None)])
        return changed

    def set_password(self, name: str, password: str, by: Principal) -> User:
        user = self._existing(name)
        changed = replace(user, password=hash_password(password),
                          password_set_at=iso_ms(self.clock.now()))
        self._write(_user_puts(changed), [_event(by, "user.set_password", [name])])
        return changed

    def issue_token(self, name: str, by: Principal,
                    expires: timedelta | None = None) -> tuple[Token, str]:
        """A new API token for user `name`: (its record, the token text, shown once)."""
        user = self._existing(name)
        if not user.active:
            raise InvalidInput(f"user {name!r} is deactivated")
        now = self.clock.now()
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        token = Token(token_id, user.id, _digest(secret), iso_ms(now),
                      None if expires is None else iso_ms(now + expires))
        self._write([("tokens", token_id.encode(), canonical_bytes(asdict(token)))],
                           [_event(by, "token.issue", [name, token_id],
                                   new={"token": token_id, "expires_at": token.expires_at})])
        return token, f"tg1.{token_id}.{secret}"

    def revoke_token(self, token_id: str, by: Principal, reason: str) -> Token:
        value = self.records.read("tokens", token_id.encode())
        if value is None:
            raise InvalidInput(f"no token {token_id!r}")
        token = Token(**json.loads(value))
        if token.revoked_at is not None:
            return token
        revoked = replace(token, revoked_at=iso_ms(self.clock.now()))
        self._write([("tokens", token_id.encode(), canonical_bytes(asdict(revoked)))],
                           [_event(by, "token.revoke", [token_id], reason=_reason(reason),
                                   old=None, new=revoked.revoked_at)])
        return revoked

    # -- authentication -----------------------------------------------------------------------

    def login(self, name: str, password: str, via: str = "password") -> Principal:
        """The principal for a correct password; Unauthenticated otherwise, always with the
        same message (it must not tell which part was wrong). Failures are counted and
        audited; the fifth within 15 minutes locks the account."""
        now = self.clock.now()
        user = self.find(name)
        denied = Unauthenticated("sign-in failed: unknown user, wrong password, or the account "
                                 "is locked or deactivated")
        if user is None or user.password is None:
            self._write([], [AuditEvent("auth.login_failed", 0, name or "?",
                                               keys=[name], details={"why": "no such user"})])
            raise denied
        if user.locked_until is not None and iso_ms(now) < user.locked_until:
            self._write([], [_user_event(user, "auth.login_failed", via,
                                                details={"why": "locked"})])
            raise denied
        if not user.active or not verify_password(user.password, password):
            recent = [t for t in user.failures if t >= iso_ms(now - FAILURE_WINDOW)]
            recent.append(iso_ms(now))
            locked = iso_ms(now + LOCK_TIME) if len(recent) >= MAX_FAILURES else None
            changed = replace(user, failures=recent, locked_until=locked or user.locked_until)
            events = [_user_event(user, "auth.login_failed", via,
                                  details={"why": "inactive" if not user.active
                                           else "wrong password", "failures": len(recent)})]
            if locked is not None:
                events.append(_user_event(user, "auth.locked", via, new=locked,
                                          details={"failures": len(recent)}))
            self._write(_user_puts(changed), events)
            raise denied
        if self.password_max_age is not None and user.password_set_at is not None and (
                iso_ms(now - self.password_max_age) > user.password_set_at):
            self._write([], [_user_event(user, "auth.login_failed", via,
                                                details={"why": "password expired"})])
            raise Unauthenticated("the password has expired; an admin must set a new one")
        changed = replace(user, failures=[], locked_until=None)
        self._write(_user_puts(changed) if changed != user else [],
                           [_user_event(user, "auth.login", via)])
        return Principal(user.id, user.name, user.full_name, user.role, via)

    def check_token(self, text: str) -> Principal:
        """The principal of an API token; Unauthenticated for a malformed, unknown, expired
        or revoked token, or one of a deactivated user."""
        denied = Unauthenticated("the token is not valid (unknown, expired or revoked)")
        cached = self._checked.get(text)
        if cached is not None:
            principal, expires, when = cached
            if time.monotonic() - when < TOKEN_CACHE_SECONDS and (
                    expires is None or self.clock.now() < expires):
                return principal
            self._checked.pop(text, None)
        principal, expires = self._check_token(text, denied)
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[text] = (principal, expires, time.monotonic())
        return principal

    def _check_token(self, text: str,
                     denied: Unauthenticated) -> tuple[Principal, datetime | None]:
        parts = text.split(".")
        if len(parts) != 3 or parts[0] != "tg1" or not re.fullmatch(r"[0-9a-f]{16}", parts[1]):
            raise denied
        value = self.records.read("tokens", parts[1].encode())
        if value is None:
            raise denied
        token = Token(**json.loads(value))
        if not hmac.compare_digest(token.digest, _digest(parts[2])):
            raise denied
        now = iso_ms(self.clock.now())
        if token.revoked_at is not None or (token.expires_at is not None
                                            and now >= token.expires_at):
            raise denied
        user = self.get(token.user_id)
        if user is None or not user.active:
            raise denied
        expires = None if token.expires_at is None else datetime.fromisoformat(
            token.expires_at)
        return Principal(user.id, user.name, user.full_name, user.role,
                         f"token:{token.id}"), expires

    def _existing(self, name: str) -> User:
        user = self.find(name)
        if user is None:
            raise InvalidInput(f"no user {name!r}")
        return user


def _user(value: bytes) -> User:
    return User(**json.loads(value))


def _user_puts(user: User) -> list[Put]:
    return [("users", b"u" + _U32.pack(user.id), canonical_bytes(asdict(user)))]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("a change of existing data needs a reason")
    return reason.strip()


def _event(by: Principal, action: str, keys: list[str], *, reason: str | None = None,
           old: Any = None, new: Any = None) -> AuditEvent:
    return AuditEvent(action, by.user_id, by.printed, keys=keys, reason=reason, old=old,
                      new=new, details={"via": by.via})


def _user_event(user: User, action: str, via: str, *, new: Any = None,
                details: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent(action, user.id, f"{user.full_name} ({user.name})", keys=[user.name],
                      new=new, details={"via": via, **(details or {})})

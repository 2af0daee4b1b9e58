"""Certificate revocation for mutual TLS: an X.509 CRL (PEM or DER) from the client CA.

grpcio's Python server credentials take no CRL, so the handshake cannot check one; the check
runs on the first thing a call does instead, before any work (server.auth.Gate): a revoked
client certificate gets UNAUTHENTICATED, like a revoked API token. The CRL must be signed by
the client CA (checked when it is loaded: a CRL from elsewhere stops `serve` from starting)
and current: once its nextUpdate has passed, every client certificate is refused until a new
CRL is in place (fail closed: we no longer know which are revoked). The file is re-read when
it changes, so publishing a new CRL needs no restart.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from domain.errors import InvalidInput, Unauthenticated

__all__ = ["Revocations"]


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int, int]  # (inode, mtime_ns, size) of the file read
    crl: x509.CertificateRevocationList


class Revocations:
    """The client CA's CRL at `path`, checked against `ca` (PEM)."""

    def __init__(self, path: Path, ca: Path) -> None:
        self.path = path
        try:
            self.ca = x509.load_pem_x509_certificate(ca.read_bytes())
        except (OSError, ValueError) as e:
            raise InvalidInput(f"{ca}: not a PEM certificate ({e})") from e
        self._lock = threading.Lock()
        self._loaded = self._load()

    def _load(self) -> _Loaded:
        try:
            stat = os.stat(self.path)
            data = self.path.read_bytes()
        except OSError as e:
            raise InvalidInput(f"{self.path}: cannot read the CRL ({e.strerror})") from e
        try:
            crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
                   else x509.load_der_x509_crl(data))
        except ValueError as e:
            raise InvalidInput(f"{self.path}: not an X.509 CRL ({e})") from e
        if crl.issuer != self.ca.subject or not crl.is_signature_valid(
                self.ca.public_key()):  # type: ignore[arg-type]
            raise InvalidInput(f"{self.path}: the CRL is not signed by the client CA "
                               f"({self.ca.subject.rfc4514_string()})")
        return _Loaded(_stamp(stat), crl)

    def _current(self) -> x509.CertificateRevocationList:
        """The CRL, re-read when its file changed (a bad new file keeps the old one: the
        old list still names what it revoked; the error is raised to the caller)."""
        with self._lock:
            try:
                stat = os.stat(self.path)
                if _stamp(stat) != self._loaded.stamp:
                    self._loaded = self._load()
            except (OSError, InvalidInput) as e:
                raise Unauthenticated(f"the client CRL cannot be read ({e}); certificates "
                                      "are refused until it can") from e
            return self._loaded.crl

    def check(self, certificate_pem: bytes, now: datetime | None = None) -> None:
        """Unauthenticated when the certificate is revoked, or the CRL is out of date."""
        crl = self._current()
        moment = now or datetime.now(UTC)
        if crl.next_update_utc is not None and crl.next_update_utc < moment:
            raise Unauthenticated("the client CRL is out of date (next update was "
                                  f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC); certificates "
                                  "are refused until a new one is in place")
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError as e:
            raise Unauthenticated("the client certificate cannot be read") from e
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise Unauthenticated("the client certificate is revoked")


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_mtime_ns, stat.st_size

"""TLS and mutual TLS on a real server: certificates made here with `cryptography` (a CA, the
server's certificate for 127.0.0.1, a scanner's client certificate, and one from another CA).
A client certificate's common name names a service account; no certificate, or one another
CA issued, fails the handshake; a deactivated account is refused after it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from domain.errors import TraceError, Unauthenticated
from index.live import LiveStore
from index.store import Store
from server.client import TraceClient
from server.serve import ServerConfig, TraceServer
from trust.identity import Directory, Principal

OWNER = Principal(0, "os:test", "os:test", "admin", "os")
NOW = datetime.now(UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
                 server: bool = False) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(minutes=5))
               .not_valid_after(NOW + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = _certificate("tracegraph test CA", ca_key, "tracegraph test CA", ca_key, ca=True)
    paths = dict(zip(("ca", "ca.key"), _write(folder, "ca", ca, ca_key), strict=True))
    rogue = _certificate("rogue CA", rogue_key, "rogue CA", rogue_key, ca=True)
    paths["rogue"], paths["rogue.key"] = _write(folder, "rogue", rogue, rogue_key)
    for name, issuer, issuer_key, server in (("server", "tracegraph test CA", ca_key, True),
                                             ("scanner-1", "tracegraph test CA", ca_key, False),
                                             ("gone", "tracegraph test CA", ca_key, False),
                                             ("stolen", "tracegraph test CA", ca_key, False),
                                             ("intruder", "rogue CA", rogue_key, False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key, issuer, issuer_key, server=server)
        paths[f"{name}.crt"], paths[f"{name}.key"] = _write(folder, name, cert, key)
    return paths


@pytest.fixture(scope="module")
def mtls(pki: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("mtls") / "data"
    LiveStore(data).close()
    store = Store(data, writable=True)
    directory = Directory(store)
    directory.add("scanner-1", "viewer", OWNER, full_name="Scanner 1, line 3", kind="service")
    directory.add("gone", "viewer", OWNER, kind="service")
    directory.deactivate("gone", OWNER, "scanner retired")
    directory.add("reader", "viewer", OWNER, kind="service")
    _, token = directory.issue_token("reader", OWNER)
    store.close()
    server = TraceServer(data, ServerConfig(port=0, compact_edges=0, tls_cert=pki["server.crt"],
                                            tls_key=pki["server.key"], client_ca=pki["ca"]))
    server.load()
    yield f"127.0.0.1:{server.port}", token
    server.stop(0)


def _client(target: str, pki: dict[str, Path], who: str | None,
            token: str = "") -> TraceClient:
    return TraceClient(target, token=token, timeout=5, tls_ca=pki["ca"],
                       client_cert=None if who is None else pki[f"{who}.crt"],
                       client_key=None if who is None else pki[f"{who}.key"])


def test_a_client_certificate_names_its_service_account(mtls: tuple[str, str],
                                                         pki: dict[str, Path]) -> None:
    target, token = mtls
    with _client(target, pki, "scanner-1") as scanner:
        me = scanner.whoami()
        assert (me["user"], me["via"]) == ("scanner-1", "certificate")
        assert scanner.stats()["nodes"] == 0
    with _client(target, pki, "scanner-1", token) as both:  # a token, when sent, wins
        assert both.whoami()["user"] == "reader"


@pytest.mark.parametrize("who", [None, "intruder"], ids=["no-certificate", "another-ca"])
def test_the_handshake_fails_without_a_certificate_of_our_ca(
        mtls: tuple[str, str], pki: dict[str, Path], who: str | None) -> None:
    target, _ = mtls
    with _client(target, pki, who) as client, pytest.raises(TraceError) as info:
        client.stats(timeout=3)
    assert "UNAVAILABLE" in str(info.value) or "unavailable" in str(info.value).lower()


def test_a_deactivated_accounts_certificate_is_refused(mtls: tuple[str, str],
                                                       pki: dict[str, Path]) -> None:
    target, _ = mtls
    with _client(target, pki, "gone") as client, pytest.raises(Unauthenticated,
                                                               match="no active service"):
        client.stats()


def test_plain_text_to_a_tls_server_fails(mtls: tuple[str, str]) -> None:
    target, token = mtls
    with TraceClient(target, token=token, timeout=3) as plain, pytest.raises(
            TraceError, match=r"(?i)unavailable"):
        plain.stats(timeout=3)  # the connection never gets to a call


def _crl(pki: dict[str, Path], path: Path, revoked: list[str], *, issuer: str = "ca",
         next_update: timedelta = timedelta(days=1)) -> Path:
    """A CRL of `issuer` revoking the certificates of `revoked`, written to `path`."""
    key = serialization.load_pem_private_key(pki[f"{issuer}.key"].read_bytes(), None)
    ca = x509.load_pem_x509_certificate(pki[issuer].read_bytes())
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
               .last_update(NOW + min(next_update, timedelta(0)) - timedelta(hours=1))
               .next_update(NOW + next_update))
    for name in revoked:
        cert = x509.load_pem_x509_certificate(pki[f"{name}.crt"].read_bytes())
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(NOW - timedelta(minutes=1)).build())
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(  # type: ignore[arg-type]
        serialization.Encoding.PEM))
    return path


def test_a_revoked_certificate_is_refused_and_a_new_crl_needs_no_restart(
        pki: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    LiveStore(data).close()
    store = Store(data, writable=True)
    for name in ("scanner-1", "stolen"):
        Directory(store).add(name, "viewer", OWNER, kind="service")
    store.close()
    crl = _crl(pki, tmp_path / "ca.crl", ["stolen"])
    config = ServerConfig(port=0, compact_edges=0, tls_cert=pki["server.crt"],
                          tls_key=pki["server.key"], client_ca=pki["ca"], client_crl=crl)
    with pytest.raises(TraceError, match="not signed by the client CA"):
        TraceServer(data, replace(config, client_crl=_crl(pki, tmp_path / "rogue.crl", [],
                                                           issuer="rogue")))
    server = TraceServer(data, config)
    server.load()
    target = f"127.0.0.1:{server.port}"
    try:
        with _client(target, pki, "scanner-1") as scanner:
            assert scanner.whoami()["user"] == "scanner-1"
        with _client(target, pki, "stolen") as thief, pytest.raises(Unauthenticated,
                                                                    match="revoked"):
            thief.stats()
        _crl(pki, crl, ["stolen", "scanner-1"])  # published while the server runs
        with _client(target, pki, "scanner-1") as scanner, pytest.raises(Unauthenticated,
                                                                         match="revoked"):
            scanner.stats()
        _crl(pki, crl, [], next_update=-timedelta(hours=1))  # nobody revoked, but stale
        with _client(target, pki, "scanner-1") as scanner, pytest.raises(Unauthenticated,
                                                                         match="out of date"):
            scanner.stats()
        crl.write_bytes(b"not a CRL")  # a broken file: refused, never let through
        with _client(target, pki, "scanner-1") as scanner, pytest.raises(Unauthenticated,
                                                                         match="CRL cannot"):
            scanner.stats()
    finally:
        server.stop(0)


def test_the_web_app_over_tls_sets_a_secure_cookie(pki: dict[str, Path],
                                                   tmp_path: Path) -> None:
    import http.client
    import json
    import ssl
    import urllib.request

    from domain.errors import InvalidInput

    data = tmp_path / "data"
    LiveStore(data).close()
    store = Store(data, writable=True)
    Directory(store).add("ivy", "investigator", OWNER, password="ivy-investigates-1")
    store.close()
    with pytest.raises(InvalidInput, match="presents no client certificate"):
        TraceServer(data, ServerConfig(port=0, web_port=0, tls_cert=pki["server.crt"],
                                       tls_key=pki["server.key"], client_ca=pki["ca"]))
    server = TraceServer(data, ServerConfig(port=0, web_port=0, compact_edges=0,
                                            scrub_hours=0, tls_cert=pki["server.crt"],
                                            tls_key=pki["server.key"]))
    server.load()
    try:
        assert server.web is not None
        assert server.web.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(pki["ca"]))
        login = urllib.request.Request(
            server.web.url + "api/login", method="POST",
            data=json.dumps({"user": "ivy", "password": "ivy-investigates-1"}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(login, context=context, timeout=30) as answer:
            cookie = answer.headers["set-cookie"]
            assert "strict-transport-security" in {k.lower() for k in answer.headers}
        assert "secure" in cookie.lower()
        who = urllib.request.Request(server.web.url + "api/whoami",
                                     headers={"cookie": cookie.split(";")[0]})
        with urllib.request.urlopen(who, context=context, timeout=30) as answer:
            assert json.loads(answer.read())["user"] == "ivy"
        # Plain HTTP to the TLS port is not served.
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            urllib.request.urlopen(server.web.url.replace("https", "http") + "api/whoami",
                                   timeout=10)
    finally:
        server.stop(0)

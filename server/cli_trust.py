"""`tracegraph users | tokens | audit`: sign-in identities, API tokens and the audit trail of a
local data directory.

On a local data directory the command acts as the OS user who owns it (as psql trusts a local
peer): whoever can write the directory's files could do anything to them anyway, so the owner
is the local administrator, recorded in the audit trail as `os:<login>`. A user other than
the owner (and not root) is refused. Passwords are read from stdin (`--password-stdin`),
never from argv or the environment, and never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import pwd
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from domain.errors import InvalidInput, PermissionDenied
from domain.time import parse_time
from index.store import Store
from trust.audit import decode, matches
from trust.identity import Directory, Principal, Records
from trust.roles import CLI_RULES, ROLES, allowed

__all__ = ["add_trust_parsers", "cmd_audit", "cmd_login", "cmd_tokens", "cmd_users",
           "local_principal", "read_password", "signed_in"]

EXIT_TAMPERED = 1


def add_trust_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """The users, tokens and audit verbs (called by server.cli_args). Every verb but keygen
    takes --data."""

    def verb(verbs: Any, name: str, help_text: str, *, data: bool = True) -> Any:
        parser = verbs.add_parser(name, help=help_text, formatter_class=formatter)
        if data:
            parser.add_argument("--data", type=Path, required=True, help="data directory")
        return parser

    users = sub.add_parser("users", help="sign-in identities of a data directory")
    verbs = users.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verb(verbs, "add", "add a user (a person with a password from stdin, or --service "
                           "for an ERP/MES/scanner account with tokens)")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True, help="what the user may do")
    p.add_argument("--full-name", help="printed name shown in the audit trail and signatures")
    p.add_argument("--service", action="store_true", help="a service account (tokens only)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = verb(verbs, "list", "every user, active or not")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output")
    for name, what in (("deactivate", "deactivate a user (ids are never reused)"),
                       ("unlock", "unlock a user locked after failed sign-ins")):
        p = verb(verbs, name, what)
        p.add_argument("name")
        p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p = verb(verbs, "set-role", "change a user's role")
    p.add_argument("name")
    p.add_argument("role", choices=ROLES)
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p = verb(verbs, "passwd", "set a user's password (read from stdin)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", required=True,
                   help="read the password from stdin")

    tokens = sub.add_parser("tokens", help="API tokens for service accounts")
    verbs = tokens.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verb(verbs, "issue", "issue a token (printed once, alone on the last line)")
    p.add_argument("name", help="the user the token acts as")
    p.add_argument("--expires", help="lifetime such as 90d, 12h (default: until revoked)")
    p = verb(verbs, "revoke", "revoke a token by its id")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    verb(verbs, "list", "every token: id, user, issued, expires, revoked")

    audit = sub.add_parser("audit", help="verify or read the audit trail")
    verbs = audit.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verb(verbs, "verify", "recompute the chain, the Merkle root and signed checkpoints; "
                              "exit 1 naming the first bad record")
    p.add_argument("--public-key", type=Path, help="Ed25519 public key of the checkpoints")
    p.add_argument("--checkpoint", type=Path, help="a checkpoint file or a folder of them")
    p = verb(verbs, "log", "audit records, oldest first")
    p.add_argument("--since", help="records at or after this ISO time")
    p.add_argument("--until", help="records at or before this ISO time")
    p.add_argument("--user", help="records of this user (name)")
    p.add_argument("--key", help="records that name this object key")
    p.add_argument("--action", help="records of this action (e.g. edge.retract)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    p = verb(verbs, "keygen", "make an Ed25519 key pair for signing checkpoints (keep the "
                              "private key outside the data directory)", data=False)
    p.add_argument("--private-key", type=Path, required=True, help="where to write it (0600)")
    p = verb(verbs, "export", "one entity's attributes, genealogy, audit records (with "
                              "inclusion proofs) and corrections: JSON lines, or printable "
                              "HTML or PDF")
    p.add_argument("key")
    p.add_argument("--format", choices=("jsonl", "html", "pdf"), default="jsonl",
                   help="output (pdf needs --output)")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    p = verb(verbs, "verify-export", "re-check an export's audit records against its root "
                                     "(and a signed checkpoint)", data=False)
    p.add_argument("file", type=Path)
    p.add_argument("--public-key", type=Path, help="Ed25519 public key of the checkpoint")
    p.add_argument("--checkpoint", type=Path, help="the signed checkpoint of the same size")
    p = verb(verbs, "checkpoint", "sign a checkpoint of the audit trail now")
    p.add_argument("--private-key", type=Path, required=True, help="the Ed25519 private key")
    p.add_argument("--out", type=Path, required=True,
                   help="folder the checkpoint goes to (outside the data directory)")
    for command in (users, tokens, audit):
        command.formatter_class = formatter
    p = sub.add_parser("login", help="sign in to a server; later --server commands use the "
                                     "session (kept in ~/.config/tracegraph, mode 0600)")
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="the server")
    p.add_argument("--user", required=True, help="user name")
    p.add_argument("--password-stdin", action="store_true", required=True,
                   help="read the password from stdin")


def local_principal(data_dir: Path) -> Principal:
    """The OS user running this command, if they own `data_dir` (or are root)."""
    uid = os.geteuid()
    owner = data_dir.stat().st_uid if data_dir.exists() else uid
    login = pwd.getpwuid(uid).pw_name
    if uid not in (owner, 0):
        raise PermissionDenied(f"{data_dir} belongs to another OS user; only its owner may "
                               "administer it locally")
    return Principal(0, f"os:{login}", f"os:{login}", "admin", "os")


@contextlib.contextmanager
def _administered(data: Path) -> Iterator[tuple[Directory, Principal]]:
    """The directory's users and tokens, changed by its OS owner (the writer lock held)."""
    by = local_principal(data)
    store = Store(data, writable=True)
    try:
        yield Directory(store), by
    finally:
        store.close()


def signed_in(records: Records, args: argparse.Namespace, verb: str) -> Principal:
    """The user of --user with the password on stdin, if their role allows `verb`
    (trust.roles.CLI_RULES; no rule, no access). Failures are audited (Directory.login)."""
    user = Directory(records).login(args.user, read_password(args))
    if not allowed(CLI_RULES.get(verb), user.role):
        raise PermissionDenied(f"{user.name} ({user.role}) may not run `tracegraph {verb}`")
    return user


def read_password(args: argparse.Namespace) -> str:
    if not getattr(args, "password_stdin", False):
        raise InvalidInput("give the password on stdin with --password-stdin (never in argv)")
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def cmd_users(args: argparse.Namespace) -> int:
    if args.verb == "list":
        store = Store(args.data, writable=False)
        try:
            rows = [u.public() for u in Directory(store).users()]
        finally:
            store.close()
        if args.format == "json":
            print(json.dumps(rows, indent=1))
        else:
            for row in rows:
                state = "active" if row["active"] else "deactivated"
                locked = f", locked until {row['locked_until']}" if row["locked_until"] else ""
                print(f"{row['id']:>4}  {row['name']:<20} {row['role']:<13} {row['kind']:<8} "
                      f"{state}{locked}  {row['full_name']}")
        return 0
    with _administered(args.data) as (directory, by):
        if args.verb == "add":
            password = None if args.service else read_password(args)
            user = directory.add(args.name, args.role, by, full_name=args.full_name,
                                 password=password,
                                 kind="service" if args.service else "person")
            print(f"added user {user.name} (id {user.id}, role {user.role})")
        elif args.verb == "deactivate":
            directory.deactivate(args.name, by, args.reason)
            print(f"deactivated {args.name}")
        elif args.verb == "unlock":
            directory.unlock(args.name, by, args.reason)
            print(f"unlocked {args.name}")
        elif args.verb == "set-role":
            directory.set_role(args.name, args.role, by, args.reason)
            print(f"{args.name} is now {args.role}")
        elif args.verb == "passwd":
            directory.set_password(args.name, read_password(args), by)
            print(f"password of {args.name} set")
    return 0


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match is None:
        raise InvalidInput(f"--expires {text!r}: write a number and d, h or m (90d, 12h)")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(days=number) if unit == "d" else timedelta(
        hours=number) if unit == "h" else timedelta(minutes=number)


def cmd_tokens(args: argparse.Namespace) -> int:
    if args.verb == "list":
        store = Store(args.data, writable=False)
        try:
            directory = Directory(store)
            names = {u.id: u.name for u in directory.users()}
            for token in directory.tokens():
                state = (f"revoked {token.revoked_at}" if token.revoked_at else
                         f"expires {token.expires_at}" if token.expires_at else "no expiry")
                print(f"{token.id}  {names.get(token.user_id, '?'):<20} issued "
                      f"{token.issued_at}  {state}")
        finally:
            store.close()
        return 0
    with _administered(args.data) as (directory, by):
        if args.verb == "issue":
            expires = None if args.expires is None else _duration(args.expires)
            token, text = directory.issue_token(args.name, by, expires)
            print(f"token {token.id} for {args.name}"
                  + (f", expires {token.expires_at}" if token.expires_at else "")
                  + "; shown once: store it as a secret", file=sys.stderr)
            print(text)
        else:
            directory.revoke_token(args.id, by, args.reason)
            print(f"revoked token {args.id}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if args.verb == "keygen":
        from trust.checkpoint import generate_key

        public = generate_key(args.private_key)
        print(f"private key {args.private_key} (mode 0600; keep it outside the data "
              f"directory), public key {public}")
        return 0
    if args.verb == "checkpoint":
        return _checkpoint(args)
    if args.verb in ("export", "verify-export"):
        return _export(args)
    store = Store(args.data, writable=False)
    try:
        if args.verb == "verify":
            return _verify(store, args)
        return _log(store, args)
    finally:
        store.close()


def _verify(store: Store, args: argparse.Namespace) -> int:
    from trust.verify import verify_store

    report = verify_store(store, args.public_key, args.checkpoint)
    if report.ok:
        signed = (f"; checkpoint of {report.checkpoint['size']:,} records verified"
                  if report.checkpoint else "")
        print(f"audit trail intact: {report.records:,} records, every log entry covered, "
              f"Merkle root {report.root}{signed}")
        return 0
    where = f"first bad record: {report.first_bad}" if report.first_bad else "not one record"
    print(f"audit trail NOT intact ({where}):")
    for problem in report.problems:
        print(f"  {problem}")
    return EXIT_TAMPERED


def _log(store: Store, args: argparse.Namespace) -> int:
    since = parse_time(args.since, "since")
    until = parse_time(args.until, "until")
    rows = []
    for _, data in store.audit_records():
        record = decode(data)
        if matches(record, since=since, until=until, user=args.user, key=args.key,
                   action=args.action):
            rows.append(record)
    if args.format == "json":
        text = json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    else:
        columns = ("seq", "time", "user", "action", "keys", "reason", "old", "new", "details")
        flat = [{c: (r[c] if isinstance(r[c], (int, str)) or r[c] is None
                     else json.dumps(r[c], ensure_ascii=False)) for c in columns} for r in rows]
        if args.format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns)
            writer.writeheader()
            writer.writerows(flat)
            text = buffer.getvalue()
        else:
            from server.output import emit_table

            table = pa.table({c: pa.array([None if f[c] is None else str(f[c]) for f in flat],
                                          pa.string()) for c in columns})
            emit_table(table, "table", args.output, title="audit trail")
            return 0
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from trust.checkpoint import load_private, sign_checkpoint, write_checkpoint
    from trust.merkle import leaf_hash

    key = load_private(args.private_key)
    store = Store(args.data, writable=False)
    try:
        leaves = [leaf_hash(data) for _, data in store.audit_records()]
        created = (store.read("meta", b"created_at") or b"").decode()
    finally:
        store.close()
    checkpoint = sign_checkpoint(key, f"tracegraph:{created}", leaves, datetime.now(UTC))
    path = write_checkpoint(args.out, checkpoint)
    print(f"signed checkpoint of {len(leaves):,} records, root {checkpoint['root']}: {path}")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    """Sign in and keep the session token where the client finds it (mode 0600)."""
    from server.client import TraceClient, token_path

    password = read_password(args)
    with TraceClient(args.server, token="") as client:
        signed = client.login(args.user, password)
    path = token_path(args.server)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(signed["token"] + "\n")
    os.chmod(path, 0o600)
    print(f"signed in to {args.server} as {signed['user']} ({signed['role']}); the session "
          f"ends after 15 minutes idle or at {signed['expires_at']:%Y-%m-%d %H:%M} UTC")
    return 0


def _export(args: argparse.Namespace) -> int:
    from server.audit_export import export_entity, render_html, render_pdf, verify_export
    from server.seeds import seed_key

    if args.verb == "export":
        if args.format == "pdf" and args.output is None:
            raise InvalidInput("a PDF is written to a file: give --output FILE.pdf")
        lines = export_entity(args.data, seed_key(args.key))
        if args.format == "pdf":
            args.output.write_bytes(render_pdf(lines))
            print(f"wrote {args.output}", file=sys.stderr)
            return 0
        text = (render_html(lines) if args.format == "html" else "".join(
            json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines))
        if args.output is not None:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    lines = [json.loads(line) for line in args.file.read_text(encoding="utf-8").split("\n")
             if line.strip()]
    checkpoint = None
    if args.checkpoint is not None:
        if args.public_key is None:
            raise InvalidInput("a checkpoint is verified with the public key (--public-key)")
        from trust.checkpoint import read_signed

        checkpoint = read_signed(args.checkpoint, args.public_key)
    problems = verify_export(lines, checkpoint)
    if problems:
        print(f"export NOT verified ({len(problems)} problem(s)):")
        for problem in problems:
            print(f"  {problem}")
        return EXIT_TAMPERED
    audited = sum(1 for line in lines if line.get("type") == "audit")
    print(f"export verified: {audited} audit record(s), each in the trail whose root the "
          "export names" + ("; that root is the signed checkpoint's" if checkpoint else ""))
    return 0

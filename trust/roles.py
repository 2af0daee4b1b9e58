"""Roles and the one table of what each may do: every gRPC method and every CLI verb that
touches a data directory is listed with the roles allowed; anything not listed is denied
(tests/test_roles.py fails when a method of the service descriptors has no rule).

    viewer        read (traces, impact, nodes, stats)
    investigator  read, and recall cases (once they exist)
    qa            read; approve or reject corrections; sign records; read the audit trail
    writer        service accounts of ERP, MES, scanners: Ingest
    admin         users and tokens; reads the audit trail; cannot approve corrections
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLI_RULES", "PUBLIC_METHODS", "ROLES", "RPC_RULES", "allowed"]

ROLES: Final = ("viewer", "investigator", "qa", "writer", "admin")

_READ = frozenset({"viewer", "investigator", "qa", "admin"})
_EVERYONE = frozenset(ROLES)

RPC_RULES: Final[dict[str, frozenset[str]]] = {
    "/tracegraph.v1.Genealogy/Trace": _READ,
    "/tracegraph.v1.Genealogy/TraceUnary": _READ,
    "/tracegraph.v1.Genealogy/Hourglass": _READ,
    "/tracegraph.v1.Genealogy/Impact": _READ,
    "/tracegraph.v1.Genealogy/Path": _READ,
    "/tracegraph.v1.Genealogy/Draw": _READ,
    "/tracegraph.v1.Genealogy/GetNode": _READ,
    "/tracegraph.v1.Genealogy/Stats": _READ,
    "/tracegraph.v1.Ingest/Ingest": frozenset({"writer"}),
    "/tracegraph.v1.Auth/Login": _EVERYONE,  # the method that gives the token: see PUBLIC
    "/tracegraph.v1.Auth/Logout": _EVERYONE,
    "/tracegraph.v1.Auth/WhoAmI": _EVERYONE,
    "/tracegraph.v1.Auth/ChangePassword": _EVERYONE,
    **{f"/tracegraph.v1.Users/{m}": frozenset({"admin"}) for m in (
        "List", "Add", "SetRole", "Deactivate", "Unlock", "SetPassword", "IssueToken",
        "RevokeToken", "ListTokens")},
    "/tracegraph.v1.Audit/Log": frozenset({"qa", "admin"}),
    "/tracegraph.v1.Audit/Verify": frozenset({"qa", "admin"}),
    # Who signs which step is the approval policy's (trust.approvals; by default one qa);
    # admin proposes only approval-policy changes (trust.corrections).
    "/tracegraph.v1.Corrections/Propose": frozenset({"writer", "investigator", "qa", "admin"}),
    "/tracegraph.v1.Corrections/Approve": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Corrections/Reject": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Recalls/Open": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Recalls/Refresh": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Recalls/Close": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Recalls/Get": _READ,
    "/tracegraph.v1.Investigation/Find": _READ,
    "/tracegraph.v1.Investigation/CommonCause": _READ,
    "/tracegraph.v1.Investigation/Containment": _READ,
    "/tracegraph.v1.Quality/GetDhr": _READ,
    "/tracegraph.v1.Quality/AffectedBy": _READ,
    "/tracegraph.v1.Quality/GetRecord": _READ,
    "/tracegraph.v1.Quality/Kpi": _READ,
    "/tracegraph.v1.Quality/ListAlerts": _READ,
    "/tracegraph.v1.Quality/WatchAlerts": _READ,
    "/tracegraph.v1.Quality/AcknowledgeAlert": frozenset({"investigator", "qa"}),
    "/tracegraph.v1.Recalls/List": _READ,
    "/tracegraph.v1.Recalls/Diff": _READ,
    "/tracegraph.v1.Recalls/Consignees": _READ,
    "/tracegraph.v1.Recalls/Export": _READ,
    "/tracegraph.v1.Corrections/Get": _READ,
    "/tracegraph.v1.Corrections/List": _READ,
}
"""gRPC method -> roles allowed."""

PUBLIC_METHODS: Final = frozenset({
    "/tracegraph.v1.Auth/Login",  # takes a user and password instead of a token
    "/grpc.health.v1.Health/Check",  # says SERVING or not, nothing else
    "/grpc.health.v1.Health/Watch",
})
"""Methods that need no token. Reflection is served only with `serve --dev`."""

CLI_RULES: Final[dict[str, frozenset[str]]] = {
    # Reads, plain ingest, account administration and audit reports on a local data directory
    # run as its OS owner (like psql's local peer trust); a change of existing data or a
    # signature needs --user and a password, and the user's role must allow the verb.
    "retract": frozenset({"writer", "investigator", "qa"}),
    "correct propose": frozenset({"writer", "investigator", "qa", "admin"}),
    "correct approve": frozenset({"investigator", "qa"}),
    "correct reject": frozenset({"investigator", "qa"}),
    "recall open": frozenset({"investigator", "qa"}),
    "recall refresh": frozenset({"investigator", "qa"}),
    "recall close": frozenset({"investigator", "qa"}),
    "alerts ack": frozenset({"investigator", "qa"}),
}
"""CLI verbs that name a user -> roles allowed (server.cli_trust.signed_in checks them;
finer checks, such as the approval policy's steps, follow in trust.corrections)."""


def allowed(rule: frozenset[str] | None, role: str) -> bool:
    """Deny by default: no rule, no access."""
    return rule is not None and role in rule

"""Approval paths: who must approve which kind of correction, in which order.

The policy is TOML, kept in the store (meta `approval_policy`) and changed only by an
`approval-policy` correction, which itself follows the policy in force. Each table names a
change type (trust.changes.CHANGES) or `default`; `steps` lists the approvals in order, each
a role or a list of roles, and each step is signed by a different person, none of them the
author:

    [default]
    steps = ["qa"]                       # one qa user other than the author (the default)

    [move-serial]
    steps = ["qa", ["qa", "investigator"]]  # then a second person, qa or investigator

`admin` and `writer` never approve (an administrator manages accounts; a service account
is a machine).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Final

from domain.errors import InvalidInput
from trust.changes import CHANGES
from trust.roles import ROLES

__all__ = ["DEFAULT_POLICY", "POLICY_KEY", "Policy", "current_policy", "parse_policy"]

DEFAULT_POLICY: Final = """\
# Approval paths of corrections (tracegraph correct policy). Change it only with
# `tracegraph correct propose --approval-policy FILE`: the change is itself a correction.
# Each table is a change type or `default`; `steps` lists the approvals in order, each a role
# or a list of roles; every step is a different person, never the author.
[default]
steps = ["qa"]
"""
POLICY_KEY: Final = b"approval_policy"
MAX_STEPS: Final = 5
NEVER_APPROVE: Final = frozenset({"admin", "writer"})

Steps = tuple[frozenset[str], ...]


@dataclass(frozen=True)
class Policy:
    text: str
    rules: dict[str, Steps]

    def steps(self, change_type: str) -> Steps:
        """The approval steps of `change_type` (its own table, else `default`)."""
        return self.rules.get(change_type) or self.rules["default"]


def parse_policy(text: str) -> Policy:
    """The policy in `text`, or InvalidInput naming the first thing wrong."""
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"approval policy: not TOML: {e}") from e
    if "default" not in tables:
        raise InvalidInput("approval policy: a [default] table is required")
    rules: dict[str, Steps] = {}
    for name, table in tables.items():
        if name != "default" and name not in CHANGES:
            raise InvalidInput(f"approval policy: [{name}] is not a change type (known: "
                               f"default, {', '.join(CHANGES)})")
        if not isinstance(table, dict) or set(table) != {"steps"}:
            raise InvalidInput(f"approval policy: [{name}] holds exactly one key, steps")
        raw = table["steps"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STEPS:
            raise InvalidInput(f"approval policy: [{name}] steps is a list of 1 to "
                               f"{MAX_STEPS} roles")
        steps = []
        for number, step in enumerate(raw, start=1):
            roles = [step] if isinstance(step, str) else step
            if (not isinstance(roles, list) or not roles
                    or not all(isinstance(r, str) for r in roles)):
                raise InvalidInput(f"approval policy: [{name}] step {number} is a role or a "
                                   "list of roles")
            for role in roles:
                if role not in ROLES:
                    raise InvalidInput(f"approval policy: [{name}] step {number}: unknown "
                                       f"role {role!r} (roles: {', '.join(ROLES)})")
                if role in NEVER_APPROVE:
                    raise InvalidInput(f"approval policy: [{name}] step {number}: {role} "
                                       "may not approve corrections")
            steps.append(frozenset(roles))
        rules[name] = tuple(steps)
    return Policy(text, rules)


def current_policy(text: bytes | None) -> Policy:
    """The policy stored (meta `approval_policy`), or the default when none was set."""
    return parse_policy(DEFAULT_POLICY if text is None else text.decode())

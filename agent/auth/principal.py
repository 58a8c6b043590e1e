"""The authenticated caller, as every endpoint sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["agent", "supervisor", "auditor"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "auditor")
# Roles that may change a conversation (send, take over, hand back, wrap up).
ACTING_ROLES: frozenset[Role] = frozenset({"agent", "supervisor"})


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    tenant: str

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES


def parse_role(value: str) -> Role:
    if value not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {value!r}")
    return value

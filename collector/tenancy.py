"""Who is calling: tokens map to the platform (admin) or to one tenant, compared in constant time."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from collector.config import Tokens


@dataclass(frozen=True)
class Principal:
    """``tenant`` None with ``admin``: the platform, which sees everything; so ``tenant`` is always the tenant a
    caller speaks for, or None for the platform."""

    tenant: str | None
    admin: bool

    def __post_init__(self) -> None:
        if self.admin != (self.tenant is None):
            raise ValueError(f"a principal is the platform (admin, no tenant) or one tenant, not {self}")

    def may_read(self, tenant: str | None) -> bool:
        return self.admin or (tenant is not None and tenant == self.tenant)


OPEN = Principal(None, True)


class UnknownToken(PermissionError):
    pass


class TokenBook:
    def __init__(self, tokens: Tokens):
        self._entries = [(t.get_secret_value().encode(), Principal(None, True)) for t in tokens.admin]
        self._entries += [(t.get_secret_value().encode(), Principal(tenant, False)) for tenant, t in tokens.tenants.items()]

    @property
    def open(self) -> bool:
        """No tokens configured: the embedded single-user default, where every caller is the platform."""
        return not self._entries

    def resolve(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer <token>`` header; every token is compared, always."""
        if self.open:
            return OPEN
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnknownToken("missing bearer token: send Authorization: Bearer <token>")
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, token.strip().encode()) and found is None:
                found = principal
        if found is None:
            raise UnknownToken("unknown token")
        return found

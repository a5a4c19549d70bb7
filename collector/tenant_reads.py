"""The reads the collector serves over HTTP that the analysis answers: explain, statements, SLO report,
incidents and postmortems, for a tenant's token (its own view) or the platform's (any view).

The collector does not compute them (its room may not import the analysis): ``qtenancy collector serve`` hands
it an implementation (``slo.tenant_reads.StoreReads``), the same services the command line calls. Every method
takes the caller's tenant (None for the platform) and the tenant asked about (None: the caller's own view),
returns JSON-ready data, and raises LookupError for anything the caller may not see, which reads as 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class TenantReads(Protocol):
    def explain(self, caller: str | None, provenance_id: str) -> dict: ...

    def statement(self, caller: str | None, tenant: str | None, start: datetime | None,
                  end: datetime | None) -> dict: ...

    def slo_report(self, caller: str | None, tenant: str | None) -> dict: ...

    def incidents(self, caller: str | None, tenant: str | None, start: datetime | None,
                  end: datetime | None) -> dict: ...

    def postmortem(self, caller: str | None, tenant: str | None, incident: str) -> dict: ...

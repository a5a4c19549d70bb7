"""What a tenant (or the platform) reads over the collector's HTTP API, through the same services the command
line calls: ``slo.explain``, ``slo.statement``, ``slo.tenant_scope`` and ``slo.postmortem``.

A tenant's token sees only its own view: asking about another tenant, or another tenant's job or incident,
is "not found" (LookupError), never "forbidden", so a tenant cannot learn what exists. The platform may ask
for any tenant's view; an unknown tenant is refused with the known ones.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl

from contract.data_dir import STORE
from slo.analysis import DEFAULT_PERIOD, billing_terms, detect, slo_results, store_tables
from slo.catalogue import SliParameters
from slo.explain import explain
from slo.incidents import incidents as incidents_of
from slo.postmortem import Postmortem, Scope, build
from slo.report import data_end, to_json_with
from slo.sli import Tables
from slo.specs import SloSpec
from slo.statement import statement
from slo.tenant_scope import incident_list, report_for
from slo.viewer import OPERATOR, Viewer, check_tenant

REPORT_FRAMES = ("incidents", "signals", "timeline", "affected", "affected_jobs", "budget", "suspects", "billing")


def postmortem_facts(pm: Postmortem) -> dict:
    """A postmortem's facts as JSON-ready data (what the Markdown and HTML render)."""
    facts = {name: json.loads(getattr(pm, name).write_json()) for name in REPORT_FRAMES}
    return {"title": pm.title, "scope": pm.scope.describe(), "backends": pm.backends, "tenants": pm.tenants,
            "routed_after_detection": pm.routed_after_detection, **facts}


class StoreReads:
    """The analysis over one data directory's store, for the collector's read API."""

    def __init__(self, data_dir: Path, specs: list[SloSpec]):
        self._data_dir = data_dir
        self._specs = specs

    def _tables(self) -> Tables:
        try:
            return store_tables(self._data_dir / STORE, billing_terms(self._data_dir))
        except FileNotFoundError:
            raise LookupError("no jobs have been correlated yet") from None

    def _viewer(self, tables: Tables, caller: str | None, tenant: str | None) -> Viewer:
        if caller is not None:
            if tenant not in (None, caller):
                raise LookupError(f"no tenant {tenant}")
            return Viewer(caller)
        if tenant is None:
            return OPERATOR
        check_tenant(tables.jobs, tenant)
        return Viewer(tenant)

    def explain(self, caller: str | None, provenance_id: str) -> dict:
        tables = self._tables()
        found = explain(tables, provenance_id, self._viewer(tables, caller, None), billing_terms(self._data_dir))
        if found is None:
            raise LookupError(f"no job {provenance_id}")
        return found.as_dict()

    def statement(self, caller: str | None, tenant: str | None, start: datetime | None, end: datetime | None) -> dict:
        tables = self._tables()
        viewer = self._viewer(tables, caller, tenant)
        if viewer.is_operator:
            raise LookupError("say which tenant's statement: ?tenant=<id>")
        until = end or data_end(tables)
        return statement(tables.jobs, viewer, viewer.tenant, start or until - DEFAULT_PERIOD, until,
                         billing_terms(self._data_dir)).as_dict()

    def slo_report(self, caller: str | None, tenant: str | None) -> dict:
        tables = self._tables()
        viewer = self._viewer(tables, caller, tenant)
        as_of = data_end(tables)
        results, analyses = report_for(*slo_results(self._specs, tables, {}, as_of, None), tables.jobs, viewer)
        return json.loads(to_json_with(results, analyses, as_of))

    def incidents(self, caller: str | None, tenant: str | None, start: datetime | None, end: datetime | None) -> dict:
        tables = self._tables()
        viewer = self._viewer(tables, caller, tenant)
        until = end or data_end(tables)
        since = start or until - DEFAULT_PERIOD
        found = incident_list(detect(self._specs, tables, until).signals, tables.jobs, since, until, viewer)
        return {"from": since.isoformat(), "to": until.isoformat(), "incidents": json.loads(found.write_json())}

    def postmortem(self, caller: str | None, tenant: str | None, incident: str) -> dict:
        tables = self._tables()
        viewer = self._viewer(tables, caller, tenant)
        detections = detect(self._specs, tables, data_end(tables))
        chosen = incidents_of(detections.signals).filter(pl.col("incident") == incident)
        if not viewer.is_operator:
            chosen = chosen.filter(pl.col("tenants").list.contains(viewer.tenant))
        if chosen.is_empty():
            raise LookupError(f"no incident {incident}")
        row = chosen.row(0, named=True)
        scope = Scope(row["start"], row["resolved_at"], tenant=viewer.tenant, incident=incident)
        pm = build(tables, scope, detections.signals,
                   self._specs, detections.neighbours, SliParameters().billing_tolerance_seconds,
                   viewer=viewer)
        return postmortem_facts(pm)

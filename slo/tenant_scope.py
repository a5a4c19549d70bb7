"""The SLO report and the incident list as one viewer may see them.

Everything is computed over every job first, as the platform sees it, and only then narrowed: a tenant gets
its own groups of tenant SLOs, platform and backend SLOs at the platform's value (never recomputed from one
tenant's jobs), the incidents that hurt it with the platform's facts (same id, start, detection, resolution)
and impact narrowed to it, and the analyses' rows about it, with any other tenant as "another tenant".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import polars as pl

from slo.incidents import incidents, within
from slo.report import Analyses, SloResult
from slo.specs import Grouping
from slo.viewer import ANOTHER_TENANT, Redactor, Viewer

PLATFORM_GROUPINGS = (Grouping.PLATFORM, Grouping.BACKEND)
"""Groupings whose values are the platform's, the same whoever looks."""


def scoped_results(results: list[SloResult], viewer: Viewer, namespaces: set[str]) -> list[SloResult]:
    """Each SLO's rows the viewer may see: platform and backend groups, and its own tenant or namespace group."""
    if viewer.is_operator:
        return results
    own = {viewer.tenant, *namespaces}
    return [replace(r, rows=[row for row in r.rows
                             if r.spec.group_by in PLATFORM_GROUPINGS or row["group"] in own])
            for r in results]


def scoped_analyses(analyses: Analyses, viewer: Viewer, redactor: Redactor) -> Analyses:
    """The analyses' rows about the viewer; findings that hurt it keep their suspect as "another tenant"."""
    if viewer.is_operator:
        return analyses
    mine = pl.col("tenant") == viewer.tenant
    return Analyses(
        shares=analyses.shares.filter(mine),
        jain=analyses.jain,
        starvation=analyses.starvation.filter(mine),
        billing=analyses.billing.filter(mine),
        repeats=analyses.repeats.filter(mine) if analyses.repeats.height else analyses.repeats,
        drifts=analyses.drifts,
        incidents=redactor.frame(analyses.incidents.filter(pl.col("victim") == viewer.tenant).with_columns(
            suspect_workload=pl.when(pl.col("suspect") == viewer.tenant).then("suspect_workload")), name=("suspect",)),
    )


def scoped_incidents(found: pl.DataFrame, viewer: Viewer, redactor: Redactor) -> pl.DataFrame:
    """Incidents (from ``slo.incidents.incidents`` over every signal) that hurt the viewer, impact narrowed to it."""
    if viewer.is_operator:
        return found
    own = pl.element() == viewer.tenant
    return redactor.frame(found.filter(pl.col("tenants").list.contains(viewer.tenant)), names=("tenants",),
                          jobs=("first_job",)).with_columns(
        suspects=pl.col("suspects").list.eval(pl.when(own).then(pl.element()).otherwise(pl.lit(ANOTHER_TENANT)))
        .list.unique().list.sort())


def own_namespaces(jobs: pl.LazyFrame, viewer: Viewer) -> set[str]:
    """The namespaces only the viewer's jobs use: a namespace it shares with another tenant is a group whose
    numbers would count that tenant's jobs too."""
    if viewer.is_operator:
        return set()
    users = jobs.select("namespace", "tenant").drop_nulls().unique().group_by("namespace").agg(pl.col("tenant"))
    found = users.filter(pl.col("tenant") == [viewer.tenant]).select("namespace").collect()
    return set(found.to_series().to_list())


def report_for(results: list[SloResult], analyses: Analyses, jobs: pl.LazyFrame,
               viewer: Viewer) -> tuple[list[SloResult], Analyses]:
    """The SLO report (``slo.analysis.slo_results`` over every job) as ``viewer`` may see it."""
    redactor = Redactor.of(jobs, viewer)
    return scoped_results(results, viewer, own_namespaces(jobs, viewer)), scoped_analyses(analyses, viewer, redactor)


def incident_list(signals: pl.DataFrame, jobs: pl.LazyFrame, start: datetime, end: datetime, viewer: Viewer,
                  backend: str | None = None, alert: str | None = None) -> pl.DataFrame:
    """The incidents overlapping [start, end] that concern the viewer (and the backend and alert given), each
    built from all of its signals, so its facts are the platform's whatever the filter."""
    chosen = within(signals, start, end, backend, viewer.tenant, alert)["incident"].unique().to_list()
    found = incidents(signals.filter(pl.col("incident").is_in(chosen)))
    return scoped_incidents(found, viewer, Redactor.of(jobs, viewer))

"""Every job-table SLI at once, per tenant, backend and day: one pass of one group-by.

The dashboard-sized view of the catalogue (and what the benchmark times): for each SLI its valid and
good event counts in each (tenant, backend, day), from the same expressions the SLO engine uses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import polars as pl

from slo.catalogue import CATALOGUE, SliParameters, Table

KEYS = ("tenant", "backend", "day")


def daily_suite(jobs: pl.LazyFrame, params: SliParameters, as_of: datetime) -> pl.LazyFrame:
    params = replace(params, as_of=as_of)
    job_slis = [s for s in CATALOGUE.values() if s.table is Table.JOBS]
    aggregations = []
    for sli in job_slis:
        valid = sli.valid(params).fill_null(False) & pl.col(sli.time).is_not_null()
        aggregations += [
            valid.sum().alias(f"{sli.id.value}_total"),
            (valid & sli.good(params).fill_null(False)).sum().alias(f"{sli.id.value}_good"),
        ]
    return (
        jobs.with_columns(day=pl.col("submitted_at").dt.date())
        .group_by(*KEYS)
        .agg(*aggregations)
        .sort(*KEYS)
    )

"""Who is looking: the operator sees the platform whole, a tenant sees its own jobs and the platform's facts.

Redaction happens here, in the services, never in the printing: in a tenant's view every other tenant is
"another tenant", and no other tenant's id, namespace, job or provenance ID survives in any table or text
a service returns. Platform facts (an incident's times, a platform SLO's value, a backend's calibration)
are the platform's, computed from every job and shown as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

ANOTHER_TENANT = "another tenant"
ANOTHER_TENANTS_JOB = "(a job of another tenant)"
PROVENANCE_ID = r"\b[0-9a-f]{32}\b"


@dataclass(frozen=True)
class Viewer:
    """``tenant`` None: the operator."""

    tenant: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant is None

    def describe(self) -> str:
        return "the operator" if self.is_operator else f"tenant {self.tenant}"


OPERATOR = Viewer()


class UnknownTenant(LookupError):
    """A tenant the data does not know; ``known`` lists those it does, for the operator's eyes only."""

    def __init__(self, tenant: str, known: list[str]):
        super().__init__(f"no tenant {tenant!r} in this data (known: {', '.join(known) or 'none'})")
        self.tenant, self.known = tenant, known


def check_tenant(jobs: pl.LazyFrame, tenant: str) -> None:
    known = jobs.select(pl.col("tenant").drop_nulls().unique().sort()).collect().to_series().to_list()
    if tenant not in known:
        raise UnknownTenant(tenant, known)


@dataclass(frozen=True)
class Redactor:
    """What a tenant may not see: other tenants' ids and namespaces (its own namespace excepted), and every
    provenance ID that is not one of its own jobs. (Another tenant's workload names appear in no text a
    tenant reads; the columns that hold them are emptied where they are made.)"""

    viewer: Viewer
    others: tuple[str, ...]
    own_jobs: frozenset[str]

    @classmethod
    def of(cls, jobs: pl.LazyFrame, viewer: Viewer) -> Redactor:
        if viewer.is_operator:
            return cls(viewer, (), frozenset())
        names = jobs.select("tenant", "namespace").drop_nulls().unique().collect()
        own_namespaces = set(names.filter(pl.col("tenant") == viewer.tenant)["namespace"])
        others = {t for t in names["tenant"] if t != viewer.tenant}
        others |= {n for n in names["namespace"] if n not in own_namespaces}
        own = jobs.filter(pl.col("tenant") == viewer.tenant).select("provenance_id").collect().to_series()
        return cls(viewer, tuple(sorted(others, key=lambda n: (-len(n), n))), frozenset(own.to_list()))

    def _names(self, expr: pl.Expr) -> pl.Expr:
        if not self.others:
            return expr
        pattern = r"\b(?:" + "|".join(re.escape(n) for n in self.others) + r")\b"
        return expr.str.replace_all(pattern, ANOTHER_TENANT)

    def text(self, frame: pl.DataFrame, column: str) -> pl.Expr:
        """Free text with other tenants named as "another tenant" and other tenants' provenance IDs cut out."""
        cleaned = self._names(pl.col(column))
        mentioned = frame.select(pl.col(column).str.extract_all(PROVENANCE_ID).explode().drop_nulls().unique())
        foreign = sorted(set(mentioned.to_series().to_list()) - self.own_jobs)
        if foreign:
            cleaned = cleaned.str.replace_many(foreign, ANOTHER_TENANTS_JOB)
        return cleaned.alias(column)

    def names(self, column: str) -> pl.Expr:
        """A list of tenants: the viewer's own kept, every other one gone."""
        if self.viewer.is_operator:
            return pl.col(column)
        return pl.col(column).list.eval(pl.element().filter(pl.element() == self.viewer.tenant)).alias(column)

    def name(self, column: str) -> pl.Expr:
        if self.viewer.is_operator:
            return pl.col(column)
        return pl.when(pl.col(column).is_null() | (pl.col(column) == self.viewer.tenant)).then(pl.col(column)) \
            .otherwise(pl.lit(ANOTHER_TENANT)).alias(column)

    def job(self, column: str) -> pl.Expr:
        """A provenance ID kept only when it is one of the viewer's jobs."""
        if self.viewer.is_operator:
            return pl.col(column)
        return pl.when(pl.col(column).is_in(list(self.own_jobs))).then(pl.col(column)).alias(column)

    def frame(self, frame: pl.DataFrame, text: tuple[str, ...] = (), names: tuple[str, ...] = (),
              name: tuple[str, ...] = (), jobs: tuple[str, ...] = ()) -> pl.DataFrame:
        """``frame`` with its columns of each kind redacted (columns it does not have are skipped)."""
        if self.viewer.is_operator or frame.is_empty():
            return frame
        present = set(frame.columns)
        return frame.with_columns(
            [self.text(frame, c) for c in text if c in present] + [self.names(c) for c in names if c in present]
            + [self.name(c) for c in name if c in present] + [self.job(c) for c in jobs if c in present]
        )

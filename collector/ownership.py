"""Who owns each job: a provenance ID is bound to the tenant of the first record that named one.

A record names an owner when it comes with a tenant's token (that tenant) or, from a platform token, when
it carries the tenant attribute. Once bound, a record that names another owner for the same provenance
ID is rejected: no tenant can add spans or logs to another tenant's job, move it to itself or read it.
Platform records that name no tenant bind nothing and are always taken.

The key of a span is its trace ID (a job's trace ID is its provenance ID); the key of a log record is its
provenance ID, or its trace ID when it has none. Bindings live in memory, rebuilt at start from the store
(every stored record already agrees with its binding), so they survive any restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from collector.records import Flattened
from contract.semconv import Attr
from contract.tables import LOGS, SPANS, scan_raw

_PID = Attr.PROVENANCE_ID.value
_TENANT = Attr.TENANT.value
KEY = {SPANS: pl.col("trace_id"), LOGS: pl.coalesce(_PID, "trace_id")}
OWNER = pl.coalesce("ingest_tenant", _TENANT)
"""A tenant token's rows carry its tenant in ``ingest_tenant``; a platform token's name one, or none."""


@dataclass(frozen=True)
class Claims:
    """The owners a request binds once it is logged."""

    new: dict[str, str]


class Owners:
    def __init__(self, bound: dict[str, str] | None = None):
        self._bound = bound or {}
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, store: Path) -> Owners:
        frames = [
            scan_raw(store, table).select(key=KEY[table], owner=OWNER).drop_nulls()
            for table in (SPANS, LOGS)
        ]
        pairs = pl.concat(frames).unique(subset="key", keep="first", maintain_order=True).collect()
        return cls(dict(zip(pairs["key"].to_list(), pairs["owner"].to_list(), strict=True)))

    def admit(self, flat: Flattened) -> Claims:
        """Drop the rows of ``flat`` that name an owner other than their job's, counting them as rejected.

        Call under ``lock`` together with ``bind``, so two requests cannot both claim a new job.
        """
        new: dict[str, str] = {}
        for table in (SPANS, LOGS):
            frame = flat.tables.get(table)
            if frame is None or frame.is_empty():
                continue
            keyed = frame.with_columns(_key=KEY[table], _owner=OWNER)
            pairs = keyed.select("_key", "_owner").drop_nulls().unique(maintain_order=True)
            refused = []
            for key, owner in pairs.iter_rows():
                bound = self._bound.get(key) or new.get(key)
                if bound is None:
                    new[key] = owner
                elif bound != owner:
                    refused.append((key, owner))
            if not refused:
                continue
            refused_frame = pl.DataFrame(refused, schema={"_key": pl.String, "_owner": pl.String}, orient="row")
            dropped = keyed.join(refused_frame, on=["_key", "_owner"], how="semi", maintain_order="left")
            what = "span" if table == SPANS else "log record"
            for key in dropped["_key"].unique(maintain_order=True).to_list():
                count = dropped.filter(pl.col("_key") == key).height
                flat.reject(f"{count} {what}(s) of job {key}: it belongs to another tenant", count)
            flat.accepted -= dropped.height
            flat.tables[table] = keyed.join(refused_frame, on=["_key", "_owner"], how="anti", maintain_order="left").drop("_key", "_owner")
        return Claims(new)

    def bind(self, claims: Claims) -> None:
        self._bound.update(claims.new)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

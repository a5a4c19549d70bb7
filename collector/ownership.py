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
from pathlib import Path

import polars as pl

from collector.packed import KEY, Packed
from collector.wal import encode
from contract.tables import LOGS, RECORD_OWNER, SPANS, scan_raw


class Owners:
    def __init__(self, bound: dict[str, str] | None = None):
        self._bound = bound or {}
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, store: Path) -> Owners:
        frames = [
            scan_raw(store, table).select(key=KEY[table], owner=RECORD_OWNER).drop_nulls()
            for table in (SPANS, LOGS)
        ]
        pairs = pl.concat(frames).unique(subset="key", keep="first", maintain_order=True).collect()
        return cls(dict(zip(pairs["key"].to_list(), pairs["owner"].to_list(), strict=True)))

    def admit(self, packed: Packed) -> dict[str, str]:
        """Drop the rows of ``packed`` that name an owner other than their job's, counting them as rejected;
        returns the owners of the jobs the request is the first to name, for ``bind`` once it is logged.

        Call under ``lock`` together with ``bind``, so two requests cannot both claim a new job.
        """
        new: dict[str, str] = {}
        for table, pairs in packed.claims.items():
            refused = []
            for key, owner in pairs:
                bound = self._bound.get(key) or new.get(key)
                if bound is None:
                    new[key] = owner
                elif bound != owner:
                    refused.append((key, owner))
            if refused:
                self._drop(packed, table, refused)
        return new

    @staticmethod
    def _drop(packed: Packed, table: str, refused: list[tuple[str, str]]) -> None:
        """Take the rows of the refused (key, owner) pairs out of ``packed``'s record of ``table``."""
        keyed = packed.rows(table).with_columns(_key=KEY[table], _owner=RECORD_OWNER)
        refused_frame = pl.DataFrame(refused, schema={"_key": pl.String, "_owner": pl.String}, orient="row")
        dropped = keyed.join(refused_frame, on=["_key", "_owner"], how="semi", maintain_order="left")
        what = "span" if table == SPANS else "log record"
        for key, count in dropped.group_by("_key", maintain_order=True).len().iter_rows():
            packed.reject(f"{count} {what}(s) of job {key}: it belongs to another tenant", count)
        packed.accepted -= dropped.height
        kept = keyed.join(refused_frame, on=["_key", "_owner"], how="anti", maintain_order="left").drop("_key", "_owner")
        if kept.height:
            packed.records[table] = encode(table, kept)
        else:
            del packed.records[table]

    def bind(self, claims: dict[str, str]) -> None:
        self._bound.update(claims)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

"""A flattened request as the serving process logs it: each table's rows already encoded as the write-ahead log
record they will be written as, and the distinct (job key, owner) pairs those rows name.

Packing is done where the request was flattened, in a decoding process or on the request's thread, so the
serving process, which serialises the owner check and the log append, neither decodes nor re-encodes rows:
it reads a record back only to drop the rows of a request that names another tenant's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from collector.records import Flattened, Tally
from collector.wal import decode, encode
from contract.semconv import Attr
from contract.tables import LOGS, RECORD_OWNER, SPANS

KEY = {SPANS: pl.col("trace_id"), LOGS: pl.coalesce(Attr.PROVENANCE_ID.value, "trace_id")}
"""The key a record's owner is bound to: a span's trace ID (a job's trace ID is its provenance ID), a log
record's provenance ID, or its trace ID when it has none."""


@dataclass
class Packed(Tally):
    records: dict[str, bytes] = field(default_factory=dict)
    claims: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def rows(self, table: str) -> pl.DataFrame:
        return decode(self.records[table])


def claims(table: str, frame: pl.DataFrame) -> list[tuple[str, str]]:
    """The distinct (key, owner) pairs of ``frame``'s rows that name an owner, in their first row's order."""
    if table not in KEY:
        return []
    return frame.select(KEY[table], RECORD_OWNER).drop_nulls().unique(maintain_order=True).rows()


def pack(flat: Flattened) -> Packed:
    kept = {table: frame for table, frame in flat.tables.items() if frame.height}
    return Packed(flat.accepted, flat.rejected, list(flat.reasons),
                  records={table: encode(table, frame) for table, frame in kept.items()},
                  claims={table: claims(table, frame) for table, frame in kept.items()})

"""A run's span and log records as OTLP/protobuf, a column at a time: the bytes the SDK's exporter would send.

Each record becomes the entry of ``ScopeSpans.spans`` (or ``ScopeLogs.log_records``) that the SDK's encoder
makes of the same span: the same fields, attributes in the same order (a null one left out), the same
status, flags and body. A request is then the run's resource and scope around a batch of entries, written
once per batch. ``tests/test_otlp_wire.py`` decodes both and compares them request by request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from common import protobuf_columns as pc
from common.version import VERSION
from contract.semconv import INSTRUMENTATION_SCOPE, SCHEMA_URL
from emulator.telemetry_records import ATTRIBUTES_OF_GROUP, STATUS_ERROR

SPAN_FLAGS = 0x100
"""``SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK``: the SDK says whether the parent is remote (it never is here)."""
LOG_FLAGS = 0x01
"""The trace flags of a job's log records: sampled."""


def _any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


@dataclass(frozen=True)
class Envelope:
    """The run's resource and instrumentation scope, encoded once, around every batch of records."""

    resource: bytes
    scope: bytes

    @classmethod
    def of(cls, resource_attributes: dict) -> Envelope:
        resource = Resource(attributes=[KeyValue(key=k, value=_any_value(v)) for k, v in resource_attributes.items()])
        scope = InstrumentationScope(name=INSTRUMENTATION_SCOPE, version=VERSION)
        return cls(resource.SerializeToString(), scope.SerializeToString())

    def request(self, records: bytes) -> bytes:
        """``Export{Trace,Logs}ServiceRequest`` of one batch: both have the same shape and field numbers
        (resource 1, scope 1, records 2, schema URL 3)."""
        schema = pc.field_bytes(3, SCHEMA_URL.encode())
        scoped = pc.field_bytes(1, self.scope) + records + schema
        resourced = pc.field_bytes(1, self.resource) + pc.field_bytes(2, scoped) + schema
        return pc.field_bytes(1, resourced)


def _numpy(frame: pl.DataFrame, column: str, dtype) -> np.ndarray:
    return frame[column].fill_null(0).to_numpy().astype(dtype, copy=False)


def _present(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].is_not_null().to_numpy()


def _nonzero(frame: pl.DataFrame, column: str) -> np.ndarray:
    return (frame[column].fill_null(0) != 0).to_numpy()


def _nonempty(frame: pl.DataFrame, column: str) -> np.ndarray:
    return (frame[column].fill_null("") != "").to_numpy()


def _id(frame: pl.DataFrame, field: int, column: str) -> pc.Message:
    raw = frame[column].str.decode("hex")
    return pc.string_field(field, raw.to_arrow(), raw.is_not_null().to_numpy())


def _fixed(frame: pl.DataFrame, field: int, column: str, dtype: str) -> pc.Message:
    present = _nonzero(frame, column)
    wire = pc.FIXED64 if dtype.endswith("8") else pc.FIXED32
    return [pc.constant(pc.tag(field, wire), present), pc.fixed(_numpy(frame, column, np.int64), present, dtype)]


def _varint(frame: pl.DataFrame, field: int, column: str) -> pc.Message:
    present = _nonzero(frame, column)
    return [pc.constant(pc.tag(field, pc.VARINT), present), pc.varint(_numpy(frame, column, np.int64), present)]


def _string(frame: pl.DataFrame, field: int, column: str) -> pc.Message:
    return pc.string_field(field, frame[column].to_arrow(), _nonempty(frame, column))


def _constant(field: int, wire: int, value: bytes, rows: int) -> pc.Message:
    return [pc.constant(pc.tag(field, wire) + value, np.ones(rows, dtype=bool))]


def _any(series: pl.Series, present: np.ndarray) -> pc.Message:
    """An ``AnyValue`` of each row where ``present``, of the kind the column's type makes it."""
    dtype = series.dtype
    if dtype == pl.String:
        return pc.string_field(1, series.to_arrow(), present)
    if dtype == pl.Boolean:
        return [pc.constant(pc.tag(2, pc.VARINT), present), pc.varint(series.fill_null(False).cast(pl.Int64).to_numpy(), present)]
    if dtype.is_integer():
        return [pc.constant(pc.tag(3, pc.VARINT), present), pc.varint(series.fill_null(0).cast(pl.Int64).to_numpy(), present)]
    if dtype.is_float():
        return [pc.constant(pc.tag(4, pc.FIXED64), present), pc.fixed(series.fill_null(0.0).to_numpy(), present, "<f8")]
    if dtype == pl.List(pl.String):
        lists = series.fill_null([]).to_arrow()
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        values = lists.values
        every = np.ones(len(values), dtype=bool)
        elements = pc.assemble(pc.length_delimited(1, pc.string_field(1, values, every), every))
        offsets = lists.offsets
        starts = np.frombuffer(offsets.buffers()[1], dtype=np.int32 if offsets.type == pa.int32() else np.int64)
        starts = starts[offsets.offset:offsets.offset + len(offsets)].astype(np.int64)
        starts -= starts[0]
        return pc.length_delimited(5, [pc.gather(elements, starts)], present)
    raise TypeError(f"no OTLP attribute value for a {dtype} column ({series.name})")


def _attributes(frame: pl.DataFrame, field: int) -> pc.Message:
    """Each row's attributes, in the order its group lists them, a null one left out."""
    groups = frame["group"].to_numpy()
    blocks = []
    for group in np.unique(groups):
        where = np.flatnonzero(groups == group)
        rows = frame[where]
        parts: pc.Message = []
        for key in ATTRIBUTES_OF_GROUP[int(group)]:
            present = _present(rows, key)
            value = pc.length_delimited(2, _any(rows[key], present), present)
            entry = [pc.constant(pc.field_bytes(1, key.encode()), present), *value]
            parts += pc.length_delimited(field, entry, present)
        blocks.append((where, pc.assemble(parts)))
    if len(blocks) == 1:
        return [blocks[0][1]]
    return [pc.spread(block, where, frame.height) for where, block in blocks]


def span_entries(spans: pl.DataFrame) -> pc.Bytes:
    """Each span as an entry of ``ScopeSpans.spans`` (field 2), rows in the frame's order."""
    rows = spans.height
    error = (spans["status_code"] == STATUS_ERROR).to_numpy()
    status = pc.length_delimited(15, [
        *pc.string_field(2, spans["status_message"].to_arrow(), error & _nonempty(spans, "status_message")),
        *_varint(spans, 3, "status_code"),
    ], np.ones(rows, dtype=bool))
    span = [
        *_id(spans, 1, "trace_id"), *_id(spans, 2, "span_id"), *_id(spans, 4, "parent_span_id"),
        *_string(spans, 5, "name"), *_varint(spans, 6, "kind"),
        *_fixed(spans, 7, "start_ns", "<u8"), *_fixed(spans, 8, "end_ns", "<u8"),
        *_attributes(spans, 9), *status,
        *_constant(16, pc.FIXED32, SPAN_FLAGS.to_bytes(4, "little"), rows),
    ]
    return pc.assemble(pc.length_delimited(2, span, np.ones(rows, dtype=bool)))


def log_entries(logs: pl.DataFrame) -> pc.Bytes:
    """Each log record as an entry of ``ScopeLogs.log_records`` (field 2), rows in the frame's order."""
    rows = logs.height
    every = np.ones(rows, dtype=bool)
    record = [
        *_fixed(logs, 1, "time_ns", "<u8"), *_varint(logs, 2, "severity_number"), *_string(logs, 3, "severity_text"),
        *pc.length_delimited(5, pc.string_field(1, logs["body"].to_arrow(), _present(logs, "body")), every),
        *_attributes(logs, 6),
        *_constant(8, pc.FIXED32, LOG_FLAGS.to_bytes(4, "little"), rows),
        *_id(logs, 9, "trace_id"), *_id(logs, 10, "span_id"),
        *_fixed(logs, 11, "time_ns", "<u8"), *_string(logs, 12, "event_name"),
    ]
    return pc.assemble(pc.length_delimited(2, record, every))

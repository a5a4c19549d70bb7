"""OTLP requests flattened into the store's tables, with the contract's checks on the way.

A job span (a ``qtenancy.job*`` name) or job log record must carry the provenance ID, equal to its
trace ID; a record sent with a tenant's token may only speak for that tenant. Records that fail are
rejected one by one (OTLP partial success), the rest are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl
from google.protobuf.message import Message

from collector.otlp_payload import Signal
from qtenancy.semconv import Attr
from qtenancy.store_layout import (
    CONTRACT_COLUMNS,
    LOG_SCHEMA,
    LOGS,
    METRIC_POINT_SCHEMA,
    METRIC_POINTS,
    SPAN_SCHEMA,
    SPANS,
)

JOB_PREFIX = "qtenancy.job"
_PID = Attr.PROVENANCE_ID.value
_TENANT = Attr.TENANT.value
_CONTRACT = tuple(CONTRACT_COLUMNS)
_LIST = {name for name, dtype in CONTRACT_COLUMNS.items() if dtype == pl.List(pl.String)}


@dataclass
class Flattened:
    """The rows of one request per table, and what was rejected and why (the first reasons)."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 3:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        more = f" (and {self.rejected - len(self.reasons)} more)" if self.rejected > len(self.reasons) else ""
        return f"{self.rejected} rejected: " + "; ".join(self.reasons) + more


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind)


def _split(attributes) -> tuple[dict, dict]:
    contract, other = {}, {}
    for kv in attributes:
        value = _value(kv.value)
        if kv.key in CONTRACT_COLUMNS:
            contract[kv.key] = [str(v) for v in value] if kv.key in _LIST and isinstance(value, list) else value
        else:
            other[kv.key] = value
    return contract, other


def _service(resource) -> str | None:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return kv.value.string_value
    return None


def _check(record_name: str, trace_id: str, contract: dict, tenant: str | None, out: Flattened, what: str) -> bool:
    if record_name.startswith(JOB_PREFIX):
        pid = contract.get(_PID)
        if pid is None:
            out.reject(f"{what} {record_name!r} of trace {trace_id} has no {_PID}")
            return False
        if pid != trace_id:
            out.reject(f"{what} {record_name!r}: {_PID} {pid} is not its trace ID {trace_id}")
            return False
    if tenant is not None:
        claimed = contract.get(_TENANT)
        if claimed is not None and claimed != tenant:
            out.reject(f"{what} {record_name!r} claims tenant {claimed!r} but the token is {tenant!r}'s")
            return False
    return True


def _common(columns: dict[str, list], service: str | None, tenant: str | None, contract: dict, other: dict) -> None:
    """The columns spans and log records share: where they came from, and their attributes."""
    columns["service_name"].append(service)
    columns["ingest_tenant"].append(tenant)
    for name in _CONTRACT:
        columns[name].append(contract.get(name))
    columns["attributes"].append(json.dumps(other, sort_keys=True) if other else None)


def _frame(columns: dict[str, list], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(columns, schema=schema, strict=False)


def _spans(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in SPAN_SCHEMA}
    for resource_spans in request.resource_spans:
        service = _service(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id.hex()
                contract, other = _split(span.attributes)
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    out.reject(f"span {span.name!r} has a trace ID or span ID of the wrong length")
                    continue
                if not _check(span.name, trace_id, contract, tenant, out, "span"):
                    continue
                columns["trace_id"].append(trace_id)
                columns["span_id"].append(span.span_id.hex())
                columns["parent_span_id"].append(span.parent_span_id.hex() or None)
                columns["name"].append(span.name)
                columns["kind"].append(span.kind)
                columns["start_ns"].append(span.start_time_unix_nano)
                columns["end_ns"].append(span.end_time_unix_nano)
                columns["status_code"].append(span.status.code)
                columns["status_message"].append(span.status.message or None)
                _common(columns, service, tenant, contract, other)
                out.accepted += 1
    out.tables[SPANS] = _frame(columns, SPAN_SCHEMA)


def _logs(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in LOG_SCHEMA}
    for resource_logs in request.resource_logs:
        service = _service(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                trace_id = record.trace_id.hex() or None
                contract, other = _split(record.attributes)
                name = record.event_name or str(other.get("event.name", ""))
                if not _check(name, trace_id or "", contract, tenant, out, "log record"):
                    continue
                body = _value(record.body)
                columns["trace_id"].append(trace_id)
                columns["span_id"].append(record.span_id.hex() or None)
                columns["time_ns"].append(record.time_unix_nano or record.observed_time_unix_nano)
                columns["severity_number"].append(record.severity_number)
                columns["severity_text"].append(record.severity_text or None)
                columns["event_name"].append(name or None)
                columns["body"].append(body if isinstance(body, str) or body is None else json.dumps(body, sort_keys=True))
                _common(columns, service, tenant, contract, other)
                out.accepted += 1
    out.tables[LOGS] = _frame(columns, LOG_SCHEMA)


def _number(point) -> float | None:
    kind = point.WhichOneof("value")
    return None if kind is None else float(getattr(point, kind))


def _metrics(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in METRIC_POINT_SCHEMA}

    def add(metric, kind: str, point, value: float | None, count: int | None, service: str | None) -> None:
        contract, other = _split(point.attributes)
        if not _check(metric.name, "", contract, tenant, out, "data point"):
            return
        columns["name"].append(metric.name)
        columns["type"].append(kind)
        columns["unit"].append(metric.unit or None)
        columns["time_ns"].append(point.time_unix_nano)
        columns["value"].append(value)
        columns["count"].append(count)
        columns["service_name"].append(service)
        columns["ingest_tenant"].append(tenant)
        columns["attributes"].append(json.dumps({**contract, **other}, sort_keys=True))
        out.accepted += 1

    for resource_metrics in request.resource_metrics:
        service = _service(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind in ("gauge", "sum"):
                    for point in getattr(metric, kind).data_points:
                        add(metric, kind, point, _number(point), None, service)
                elif kind in ("histogram", "exponential_histogram", "summary"):
                    for point in getattr(metric, kind).data_points:
                        add(metric, kind, point, point.sum, point.count, service)
                else:
                    out.reject(f"metric {metric.name!r} has no data")
    out.tables[METRIC_POINTS] = _frame(columns, METRIC_POINT_SCHEMA)


FLATTEN = {Signal.TRACES: _spans, Signal.LOGS: _logs, Signal.METRICS: _metrics}


def flatten(signal: Signal, request: Message, tenant: str | None) -> Flattened:
    out = Flattened()
    FLATTEN[signal](request, tenant, out)
    return out

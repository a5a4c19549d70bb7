"""OTLP requests flattened into the store's tables, with the contract's checks on the way.

Each record is checked on its own and rejected with a reason (OTLP partial success), the rest kept;
nothing accepted is changed on the way in:
- trace and span IDs are of the right length and not all zero; times are set, below 2^63 ns, and a span
  does not end before it starts;
- a contract attribute has the contract's type (an int is taken for a double, nothing else converts);
- a job span (a ``qtenancy.job*`` name) or job log record carries the provenance ID, equal to its trace ID;
- a record sent with a tenant's token speaks only for that tenant (its tenant attribute or metric label),
  and is never a platform record (calibrations, backend state, the platform's configuration).
Every row keeps the tenant of the token it came with (``ingest_tenant``; none for a platform token).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl
from google.protobuf.message import Message

from collector.otlp_payload import Signal
from contract.semconv import (
    ATTRIBUTES,
    PLATFORM_ATTRIBUTES,
    PLATFORM_METRICS,
    PLATFORM_RECORD_PREFIXES,
    Attr,
    Label,
)
from contract.tables import (
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
_TYPES = {a.name.value: a.type for a in ATTRIBUTES}
_PLAIN = {"string": str, "boolean": bool, "int": int, "double": float}
_TAKEN_AS_IS = {name: _PLAIN[kind] for name, kind in _TYPES.items() if kind in _PLAIN}
"""The Python type a contract attribute's value is stored as when it arrives as that type (protobuf ints are
64-bit), so the common case skips the checks of ``_typed``."""
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})
_PLATFORM_ATTRIBUTES = {a.value for a in PLATFORM_ATTRIBUTES}
MAX_TIME_NS = (1 << 63) - 1


@dataclass
class Tally:
    """What a request had accepted and rejected, and why (the first reasons)."""

    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if len(self.reasons) < 3:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        more = f" (and {self.rejected - len(self.reasons)} more)" if self.rejected > len(self.reasons) else ""
        return f"{self.rejected} rejected: " + "; ".join(self.reasons) + more


@dataclass
class Flattened(Tally):
    """The rows of one request per table, and what was rejected and why."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)


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


def _typed(name: str, value):
    """The value as the contract's column takes it, or a ``TypeError`` saying what was expected."""
    kind = _TYPES[name]
    if value is None:
        return None
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < (1 << 63):
        return value
    if kind == "double" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "string[]" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise TypeError(f"attribute {name} must be {kind}, got {type(value).__name__} {value!r:.40}")


def _split(attributes) -> tuple[dict, dict]:
    """Contract attributes (typed) and the others; raises ``TypeError`` for a contract attribute of another type."""
    contract, other = {}, {}
    for kv in attributes:
        any_value, key = kv.value, kv.key
        kind = any_value.WhichOneof("value")
        value = getattr(any_value, kind) if kind in _SCALARS else _value(any_value)
        if key in CONTRACT_COLUMNS:
            contract[key] = value if type(value) is _TAKEN_AS_IS.get(key) else _typed(key, value)
        else:
            other[key] = value
    return contract, other


@dataclass(frozen=True)
class Origin:
    """The resource and instrumentation scope a batch of records came from, as stored with each record."""

    service: str | None
    resource_attributes: str | None
    scope_name: str | None
    scope_version: str | None
    scope_attributes: str | None

    def append_to(self, columns: dict[str, list]) -> None:
        columns["resource_attributes"].append(self.resource_attributes)
        columns["scope_name"].append(self.scope_name)
        columns["scope_version"].append(self.scope_version)
        columns["scope_attributes"].append(self.scope_attributes)


def _json(value) -> str | None:
    return json.dumps(value, sort_keys=True) if value else None


def _attributes(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


def _origin(resource, scope) -> Origin:
    attributes = _attributes(resource.attributes)
    service = attributes.get("service.name")
    return Origin(service if isinstance(service, str) else None, _json(attributes), scope.name or None,
                  scope.version or None, _json(_attributes(scope.attributes)))


def _events(span) -> str | None:
    """Span events (an exception is one, with ``exception.*`` attributes), in order; None when it has none, without
    building anything (most spans have none)."""
    if not span.events:
        return None
    return _json([{"time_ns": e.time_unix_nano, "name": e.name,
                   "attributes": _attributes(e.attributes)} for e in span.events])


def _links(span) -> str | None:
    if not span.links:
        return None
    return _json([{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
                   "attributes": _attributes(link.attributes)} for link in span.links])


def _check_sender(record_name: str, trace_id: str, contract: dict, tenant: str | None) -> None:
    """Raise ``ValueError`` when a span or log record breaks the contract's rules for its name and sender."""
    if record_name.startswith(JOB_PREFIX):
        pid = contract.get(_PID)
        if pid is None:
            raise ValueError(f"has no {_PID}")
        if pid != trace_id:
            raise ValueError(f"{_PID} {pid} is not its trace ID {trace_id}")
    if tenant is not None:
        claimed = contract.get(_TENANT)
        if claimed is not None and claimed != tenant:
            raise ValueError(f"claims tenant {claimed!r} but the token is {tenant!r}'s")
        if record_name.startswith(PLATFORM_RECORD_PREFIXES) or _PLATFORM_ATTRIBUTES & contract.keys():
            raise ValueError("is a platform record (calibration or backend state): only a platform token may send it")


def _id(raw: bytes, size: int, what: str, required: bool) -> str | None:
    """The ID as hex; raises ``ValueError`` when it has the wrong length or is all zero (invalid in OTLP)."""
    if not raw and not required:
        return None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    if not any(raw):
        raise ValueError(f"{what} is all zero, which OTLP calls invalid")
    return raw.hex()


def _time(value: int, what: str) -> int:
    if value == 0:
        raise ValueError(f"has no {what}")
    if value > MAX_TIME_NS:
        raise ValueError(f"{what} {value} ns is past 2262 (2^63 ns), which the store cannot hold")
    return value


def _shared(columns: dict[str, list], origins: list[Origin], tenant: str | None, contracts: list[dict],
            others: list[dict]) -> None:
    """The columns spans and log records share (where they came from, and their attributes), filled column by
    column once the request's records are read: most contract columns are empty for most records."""
    columns["service_name"] = [origin.service for origin in origins]
    columns["ingest_tenant"] = [tenant] * len(origins)
    filled = {name: [None] * len(contracts) for name in _CONTRACT}
    for row, contract in enumerate(contracts):
        for name, value in contract.items():
            filled[name][row] = value
    columns.update(filled)
    columns["attributes"] = [_json(other) for other in others]
    columns["resource_attributes"] = [origin.resource_attributes for origin in origins]
    columns["scope_name"] = [origin.scope_name for origin in origins]
    columns["scope_version"] = [origin.scope_version for origin in origins]
    columns["scope_attributes"] = [origin.scope_attributes for origin in origins]


def _frame(columns: dict[str, list], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(columns, schema=schema, strict=False)


def _spans(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in SPAN_SCHEMA}
    origins: list[Origin] = []
    contracts: list[dict] = []
    others: list[dict] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            origin = _origin(resource_spans.resource, scope_spans.scope)
            for span in scope_spans.spans:
                try:
                    trace_id = _id(span.trace_id, 16, "trace ID", True)
                    span_id = _id(span.span_id, 8, "span ID", True)
                    parent = _id(span.parent_span_id, 8, "parent span ID", False)
                    start = _time(span.start_time_unix_nano, "start time")
                    end = _time(span.end_time_unix_nano, "end time")
                    if end < start:
                        raise ValueError(f"ends ({end}) before it starts ({start})")
                    contract, other = _split(span.attributes)
                    _check_sender(span.name, trace_id, contract, tenant)
                except (TypeError, ValueError) as exc:
                    out.reject(f"span {span.name!r} of trace {span.trace_id.hex()}: {exc}")
                    continue
                columns["trace_id"].append(trace_id)
                columns["span_id"].append(span_id)
                columns["parent_span_id"].append(parent)
                columns["name"].append(span.name)
                columns["kind"].append(span.kind)
                columns["start_ns"].append(start)
                columns["end_ns"].append(end)
                columns["status_code"].append(span.status.code)
                columns["status_message"].append(span.status.message or None)
                columns["events"].append(_events(span))
                columns["links"].append(_links(span))
                origins.append(origin)
                contracts.append(contract)
                others.append(other)
    out.accepted += len(origins)
    _shared(columns, origins, tenant, contracts, others)
    out.tables[SPANS] = _frame(columns, SPAN_SCHEMA)


def _logs(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in LOG_SCHEMA}
    origins: list[Origin] = []
    contracts: list[dict] = []
    others: list[dict] = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            origin = _origin(resource_logs.resource, scope_logs.scope)
            for record in scope_logs.log_records:
                name = record.event_name
                try:
                    trace_id = _id(record.trace_id, 16, "trace ID", False)
                    span_id = _id(record.span_id, 8, "span ID", False)
                    time_ns = _time(record.time_unix_nano or record.observed_time_unix_nano, "time")
                    contract, other = _split(record.attributes)
                    name = name or str(other.get("event.name", ""))
                    _check_sender(name, trace_id or "", contract, tenant)
                except (TypeError, ValueError) as exc:
                    out.reject(f"log record {name!r} of trace {record.trace_id.hex()}: {exc}")
                    continue
                body = _value(record.body)
                columns["trace_id"].append(trace_id)
                columns["span_id"].append(span_id)
                columns["time_ns"].append(time_ns)
                columns["severity_number"].append(record.severity_number)
                columns["severity_text"].append(record.severity_text or None)
                columns["event_name"].append(name or None)
                columns["body"].append(body if isinstance(body, str) or body is None else json.dumps(body, sort_keys=True))
                origins.append(origin)
                contracts.append(contract)
                others.append(other)
    out.accepted += len(origins)
    _shared(columns, origins, tenant, contracts, others)
    out.tables[LOGS] = _frame(columns, LOG_SCHEMA)


def _number(point) -> float | None:
    kind = point.WhichOneof("value")
    return None if kind is None else float(getattr(point, kind))


def _buckets(side) -> dict:
    return {"offset": side.offset, "counts": list(side.bucket_counts)}


def _distribution(kind: str, point) -> str | None:
    """A histogram's buckets (explicit or exponential) or a summary's quantiles, with min and max when set."""
    if kind == "histogram":
        shape = {"bounds": list(point.explicit_bounds), "counts": list(point.bucket_counts)}
    elif kind == "exponential_histogram":
        shape = {"scale": point.scale, "zero_count": point.zero_count, "zero_threshold": point.zero_threshold,
                 "positive": _buckets(point.positive), "negative": _buckets(point.negative)}
    elif kind == "summary":
        shape = {"quantiles": [[q.quantile, q.value] for q in point.quantile_values]}
    else:
        return None
    for bound in ("min", "max"):
        if bound in point.DESCRIPTOR.fields_by_name and point.HasField(bound):
            shape[bound] = getattr(point, bound)
    return _json(shape)


def _exemplars(point) -> str | None:
    """Exemplars link a point to the trace (a provenance ID) that produced it."""
    if not hasattr(point, "exemplars"):
        return None
    return _json([{"time_ns": e.time_unix_nano, "value": _number(e), "trace_id": e.trace_id.hex() or None,
                   "span_id": e.span_id.hex() or None,
                   "attributes": _attributes(e.filtered_attributes)} for e in point.exemplars])


def _check_metric_sender(name: str, contract: dict, other: dict, tenant: str | None) -> None:
    """Raise ``ValueError`` when a tenant's token sends a platform metric or one labelled with another tenant."""
    if tenant is None:
        return
    if name in PLATFORM_METRICS:
        raise ValueError("is a platform metric: only a platform token may send it")
    for key in (_TENANT, Label.TENANT.value):
        claimed = contract.get(key, other.get(key))
        if claimed is not None and claimed != tenant:
            raise ValueError(f"is labelled {key}={claimed!r} but the token is {tenant!r}'s")


def _metrics(request: Message, tenant: str | None, out: Flattened) -> None:
    columns: dict[str, list] = {name: [] for name in METRIC_POINT_SCHEMA}

    def add(metric, kind: str, point, value: float | None, count: int | None, origin: Origin) -> None:
        try:
            time_ns = _time(point.time_unix_nano, "time")
            contract, other = _split(point.attributes)
            _check_metric_sender(metric.name, contract, other, tenant)
        except (TypeError, ValueError) as exc:
            out.reject(f"data point of {metric.name!r}: {exc}")
            return
        columns["name"].append(metric.name)
        columns["type"].append(kind)
        columns["unit"].append(metric.unit or None)
        columns["time_ns"].append(time_ns)
        columns["value"].append(value)
        columns["count"].append(count)
        columns["service_name"].append(origin.service)
        columns["ingest_tenant"].append(tenant)
        columns["attributes"].append(json.dumps({**contract, **other}, sort_keys=True))
        columns["distribution"].append(_distribution(kind, point))
        columns["exemplars"].append(_exemplars(point))
        origin.append_to(columns)
        out.accepted += 1

    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            origin = _origin(resource_metrics.resource, scope_metrics.scope)
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind in ("gauge", "sum"):
                    for point in getattr(metric, kind).data_points:
                        add(metric, kind, point, _number(point), None, origin)
                elif kind in ("histogram", "exponential_histogram", "summary"):
                    for point in getattr(metric, kind).data_points:
                        add(metric, kind, point, point.sum, point.count, origin)
                else:
                    out.reject(f"metric {metric.name!r} has no data")
    out.tables[METRIC_POINTS] = _frame(columns, METRIC_POINT_SCHEMA)


FLATTEN = {Signal.TRACES: _spans, Signal.LOGS: _logs, Signal.METRICS: _metrics}


def flatten(signal: Signal, request: Message, tenant: str | None) -> Flattened:
    out = Flattened()
    FLATTEN[signal](request, tenant, out)
    return out

"""Nothing OTLP carries is lost on the way into the store: the resource's attributes, the instrumentation
scope, span events (exceptions) and links, log event names, and metric histogram buckets (explicit and
exponential) and exemplars. Judged on OpenTelemetry's own OTLP/JSON examples (pretty-printed documents, as
published) and on a span the real OpenTelemetry SDK exports over loopback.

Bad input tried: a pretty-printed document cut short (its line is named, nothing is stored from it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, TraceFlags

from collector.config import CollectorConfig
from collector.correlate import correlate
from collector.server import CollectorServer
from contract.tables import LOGS, METRIC_POINTS, SPANS, scan

from .test_collector import _get

EXAMPLES = Path(__file__).parent / "fixtures" / "opentelemetry-proto"


def _ingest(data: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qtenancy", "collector", "ingest", *map(str, files), "--data-dir",
                           str(data)], capture_output=True, text=True)


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_opentelemetry_examples_are_stored_whole(tmp_path):
    data = tmp_path / "data"
    done = _ingest(data, *(EXAMPLES / f"{name}.json" for name in ("trace", "logs", "events", "metrics")))
    assert done.returncode == 0, done.stderr
    store = data / "store"
    span = scan(store, SPANS).collect().row(0, named=True)
    assert span["name"] == "I'm a server span" and span["parent_span_id"] == "eee19b7ec3c1b173"
    assert json.loads(span["resource_attributes"]) == {"service.name": "my.service"}
    assert (span["scope_name"], span["scope_version"]) == ("my.library", "1.0.0")
    assert json.loads(span["scope_attributes"]) == {"my.scope.attribute": "some scope attribute"}
    assert json.loads(span["attributes"]) == {"my.span.attr": "some value"}

    logs = scan(store, LOGS).sort("time_ns").collect()
    assert logs.height == 2 and set(logs["scope_name"]) == {"my.library"}
    assert "browser.page_view" in logs["event_name"].to_list()

    points = scan(store, METRIC_POINTS).collect()
    assert set(points["name"]) == {"my.counter", "my.gauge", "my.histogram", "my.exponential.histogram"}
    sent = {m["name"]: m for rm in _example("metrics")["resourceMetrics"] for sm in rm["scopeMetrics"]
            for m in sm["metrics"]}
    histogram = json.loads(points.filter(pl.col("name") == "my.histogram")["distribution"].item())
    expected = sent["my.histogram"]["histogram"]["dataPoints"][0]
    assert histogram["bounds"] == expected["explicitBounds"]
    assert histogram["counts"] == [int(c) for c in expected["bucketCounts"]]
    assert (histogram["min"], histogram["max"]) == (expected["min"], expected["max"])
    exponential = json.loads(points.filter(pl.col("name") == "my.exponential.histogram")["distribution"].item())
    sent_exponential = sent["my.exponential.histogram"]["exponentialHistogram"]["dataPoints"][0]
    assert exponential["scale"] == sent_exponential["scale"]
    assert exponential["positive"]["counts"] == [int(c) for c in sent_exponential["positive"]["bucketCounts"]]
    assert exponential["zero_count"] == int(sent_exponential["zeroCount"])


def test_a_pretty_printed_document_cut_short_names_its_line_and_stores_nothing(tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text("\n".join((EXAMPLES / "trace.json").read_text().splitlines()[:30]))
    done = _ingest(tmp_path / "data", cut)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{cut}:30: not JSON: Expecting property name enclosed in double quotes" in done.stderr
    assert scan(tmp_path / "data" / "store", SPANS).collect().is_empty()


def test_span_events_links_and_resource_from_the_sdk_show_in_the_jobs_trace(tmp_path):
    config = CollectorConfig(data_dir=tmp_path / "data", http_port=0, grpc_port=0, compact_interval_seconds=0.5,
                             insecure=True)
    with CollectorServer(config) as server:
        resource = Resource.create({"service.name": "broker", "service.namespace": "quantum",
                                    "service.version": "2.4.1", "host.name": "broker-7"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{server.http_endpoint}/v1/traces")))
        tracer = provider.get_tracer("acme.broker", "2.4.1")
        earlier = SpanContext(0x1F2E3D4C5B6A79880123456789ABCDEF, 0x0A0B0C0D0E0F1011, is_remote=True,
                              trace_flags=TraceFlags(1))
        with tracer.start_as_current_span("qtenancy.job", links=[Link(earlier, {"link.kind": "retry-of"})]) as span:
            pid = format(span.get_span_context().trace_id, "032x")
            span.set_attributes({"qtenancy.provenance_id": pid, "qtenancy.tenant.id": "lab"})
            span.record_exception(RuntimeError("backend manila went down"))
        provider.shutdown()
        server.compact_now()
        correlate(server.data.store)
        status, trace = _get(f"{server.http_endpoint}/api/v1/jobs/{pid}/trace")
    assert status == 200
    [root] = trace["spans"]
    assert root["resource_attributes"]["service.namespace"] == "quantum"
    assert (root["resource_attributes"]["service.version"], root["resource_attributes"]["host.name"]) == (
        "2.4.1", "broker-7")
    assert (root["scope_name"], root["scope_version"]) == ("acme.broker", "2.4.1")
    [event] = root["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert event["attributes"]["exception.message"] == "backend manila went down"
    assert event["attributes"]["exception.stacktrace"] == "RuntimeError: backend manila went down\n"
    assert root["links"] == [{"trace_id": "1f2e3d4c5b6a79880123456789abcdef", "span_id": "0a0b0c0d0e0f1011",
                              "attributes": {"link.kind": "retry-of"}}]

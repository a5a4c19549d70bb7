"""A broker that is not the emulator: written from docs/semconv.md alone, exporting through the plain
OpenTelemetry SDK over OTLP/HTTP to a running ``qtenancy collector serve``.

It imports nothing of ``emulator/`` (nor the contract's Python names: the attribute names are spelled
as the documentation spells them), so what qtenancy makes of its telemetry shows whether the contract is
enough for someone else's broker. Each tenant bills by its own meter, so one export exercises several.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .prometheus_server import free_port
from .test_collector import _serve, _wait_healthy

STAGES = ("submit", "queue", "execute", "meter", "notify")
NS = 1_000_000_000


@dataclass(frozen=True)
class BrokerTenant:
    """A tenant and how the broker bills it; ``declare_sampled`` puts its 5 s sampling meter on the meter span."""

    id: str
    bill: str = "exact"
    """exact, sampled (5 s, Unix-aligned) or over (exact times ``over_factor``)"""
    declare_sampled: bool = False
    over_factor: float = 1.0


@dataclass(frozen=True)
class BrokerJob:
    tenant: BrokerTenant
    backend: str
    submitted_ns: int
    queue_ns: int
    execute_ns: int
    shots: int = 1000


def billed_seconds(job: BrokerJob, start_ns: int, end_ns: int) -> float:
    if job.tenant.bill == "sampled":
        return (math.ceil(end_ns / NS / 5.0) - math.ceil(start_ns / NS / 5.0)) * 5.0
    return (end_ns - start_ns) / NS * job.tenant.over_factor


def jobs_between(tenants: list[BrokerTenant], start_ns: int, count: int, backends: tuple[str, ...]) -> list[BrokerJob]:
    """``count`` jobs per tenant, one every 97 s, executions 20-70 s of uneven length (never whole seconds)."""
    return [
        BrokerJob(t, backends[(i + k) % len(backends)], start_ns + (i * 97 + k * 13) * NS + 123_457,
                  (3 + i % 7) * NS + 250_001, int((20 + (i * 37 + k * 11) % 50 + 0.731) * NS) + 1_003)
        for k, t in enumerate(tenants) for i in range(count)
    ]


def export(endpoint: str, jobs: list[BrokerJob]) -> None:
    """Each job as one trace: the root span and one span per stage, as docs/semconv.md says."""
    provider = TracerProvider(resource=Resource.create({"service.name": "independent-broker"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("independent.broker")
    for job in jobs:
        t = job.submitted_ns
        queue_start = t + NS // 2
        execute_start = queue_start + job.queue_ns
        execute_end = execute_start + job.execute_ns
        meter_end = execute_end + NS // 10
        end = meter_end + NS // 10
        root = tracer.start_span("qtenancy.job", start_time=t, kind=trace.SpanKind.SERVER)
        pid = f"{root.get_span_context().trace_id:032x}"
        billed = billed_seconds(job, execute_start, execute_end)
        root.set_attributes({
            "qtenancy.provenance_id": pid, "qtenancy.job.stages": list(STAGES), "qtenancy.tenant.id": job.tenant.id,
            "qtenancy.tenant.namespace": f"ns-{job.tenant.id}", "qtenancy.backend.name": job.backend,
            "qtenancy.job.shots": job.shots, "qtenancy.job.outcome": "succeeded", "qtenancy.result.usable": True,
            "qtenancy.billing.seconds": billed, "qtenancy.billing.shots": job.shots,
            "qtenancy.job.expected_runtime": job.execute_ns / NS,
        })
        context = trace.set_span_in_context(root)
        edges = {"submit": (t, queue_start), "queue": (queue_start, execute_start),
                 "execute": (execute_start, execute_end), "meter": (execute_end, meter_end), "notify": (meter_end, end)}
        for stage, (begin, finish) in edges.items():
            span = tracer.start_span(f"qtenancy.job.{stage}", context=context, start_time=begin)
            span.set_attribute("qtenancy.provenance_id", pid)
            if stage == "meter":
                span.set_attributes({"qtenancy.billing.seconds": billed, "qtenancy.billing.shots": job.shots})
                if job.tenant.declare_sampled:
                    span.set_attributes({"qtenancy.billing.meter": "sampled", "qtenancy.billing.meter.granularity": 5.0})
            span.end(end_time=finish)
        root.end(end_time=end)
    provider.shutdown()


@contextlib.contextmanager
def serving_collector(data_dir: Path) -> Iterator[str]:
    """``qtenancy collector serve`` (insecure, loopback) for the broker to export to; stopped cleanly after."""
    http_port = free_port()
    server = _serve(data_dir, http_port, free_port())
    try:
        _wait_healthy(http_port, server)
        yield f"http://127.0.0.1:{http_port}"
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err

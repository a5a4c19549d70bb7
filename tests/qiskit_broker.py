"""A Qiskit broker written from the README and docs/semconv.md alone: three tenants share four of
qiskit-ibm-runtime's fake devices, each job's circuit runs on qiskit-aer with the device's noise model, and
the telemetry goes out through the plain OpenTelemetry SDK over OTLP/HTTP. It imports nothing of qtenancy:
attribute names are spelled as the documentation spells them.

Two faults, as a real platform has them: one backend degrades for an hour and a half from 01:00 (its
results fall under the tenants' fidelity floor), and another is down from 06:00 to 07:00 (the jobs in flight
fail with ``backend_down``; ten minutes on, the broker stops routing there). Execution is billed exactly
(the traced execute span) or, with ``sampled_meter``, by a 5 s Unix-aligned sampling meter that the meter
span declares. With ``report_status`` the broker also logs the outage as the backend's status changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from qiskit import QuantumCircuit, transpile
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, depolarizing_error
from qiskit_ibm_runtime import fake_provider

NS = 1_000_000_000
START = datetime(2026, 9, 7, tzinfo=UTC)
HOURS = 8
BACKENDS = {"manila": "FakeManilaV2", "perth": "FakePerth", "nairobi": "FakeNairobiV2", "jakarta": "FakeJakartaV2"}
TENANTS = ("acme", "globex", "initech")
FLOOR = 0.75
SHOTS = 1000
DEGRADED = ("perth", 3600, 9000)
"""Backend, and the seconds into the run its qubits decohere before readout (as if a TLS defect had appeared)."""
OUTAGE = ("nairobi", 6 * 3600, 7 * 3600)
STAGES = ("submit", "queue", "execute", "meter", "notify")


def _circuit(qubits: int) -> QuantumCircuit:
    circuit = QuantumCircuit(qubits)
    circuit.h(0)
    for q in range(1, qubits):
        circuit.cx(q - 1, q)
    circuit.measure_all()
    return circuit


def _hellinger(counts: dict[str, int], qubits: int) -> float:
    ideal = {"0" * qubits: 0.5, "1" * qubits: 0.5}
    total = sum(counts.values())
    return sum(math.sqrt(p * counts.get(k, 0) / total) for k, p in ideal.items()) ** 2


class Devices:
    """Each backend's simulator, healthy and degraded, built once from the fake device's own snapshot."""

    def __init__(self) -> None:
        self.simulators: dict[tuple[str, bool], AerSimulator] = {}
        self.transpiled: dict[tuple[str, int], QuantumCircuit] = {}
        for name, device in BACKENDS.items():
            backend = getattr(fake_provider, device)()
            healthy = AerSimulator.from_backend(backend, seed_simulator=7)
            noise = NoiseModel.from_backend(backend)
            noise.add_all_qubit_quantum_error(depolarizing_error(0.15, 1), ["measure"])
            degraded = AerSimulator.from_backend(backend, noise_model=noise, seed_simulator=7)
            self.simulators[name, False], self.simulators[name, True] = healthy, degraded
            for qubits in (3, 4):
                self.transpiled[name, qubits] = transpile(_circuit(qubits), backend, optimization_level=1,
                                                          seed_transpiler=7)

    def fidelity(self, backend: str, qubits: int, degraded: bool) -> float:
        counts = self.simulators[backend, degraded].run(self.transpiled[backend, qubits], shots=SHOTS).result()
        return _hellinger(counts.get_counts(), qubits)


@dataclass(frozen=True)
class Job:
    tenant: str
    backend: str
    qubits: int
    submitted: float
    queue: float
    execute: float
    fidelity: float | None
    failed: bool


def plan(devices: Devices) -> list[Job]:
    """Every tenant submits a job a minute; the broker routes round-robin among the backends that are up."""
    rng = np.random.default_rng(11)
    fidelities = {(b, q, d): [devices.fidelity(b, q, d) for _ in range(3)]
                  for b in BACKENDS for q in (3, 4) for d in (False, True)}
    jobs = []
    for minute in range(HOURS * 60):
        for k, tenant in enumerate(TENANTS):
            submitted = minute * 60 + k * 17 + float(rng.uniform(0, 10))
            down, start, end = OUTAGE
            noticed = start + 600
            up = [b for b in BACKENDS if not (b == down and noticed <= submitted < end)]
            backend = up[(minute + k) % len(up)]
            queue, execute = float(rng.uniform(0.5, 8.0)), float(rng.uniform(20.0, 45.0))
            began = submitted + 0.5 + queue
            failed = backend == down and began < end and began + execute > start
            bad, bad_from, bad_to = DEGRADED
            degraded = backend == bad and bad_from <= began < bad_to
            qubits = 3 + (minute + k) % 2
            fidelity = None if failed else fidelities[backend, qubits, degraded][minute % 3]
            if failed:
                execute = start - began if began < start else 0.1
            jobs.append(Job(tenant, backend, qubits, submitted, queue, execute, fidelity, failed))
    return jobs


def _ns(seconds: float) -> int:
    return int(START.timestamp() * NS) + int(round(seconds * NS))


def billed(start: int, end: int, sampled_meter: bool) -> float:
    if sampled_meter:
        return (math.ceil(end / NS / 5.0) - math.ceil(start / NS / 5.0)) * 5.0
    return (end - start) / NS


def report_outage(endpoint: str, resource: Resource) -> None:
    """The outage as docs/semconv.md asks a broker to log a backend's status: down when it began, up when it ended."""
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    logger = provider.get_logger("qiskit.broker")
    backend, start, end = OUTAGE
    for at, up in ((start, False), (end, True)):
        logger.emit(LogRecord(
            timestamp=_ns(at), observed_timestamp=_ns(at), event_name="qtenancy.backend.status",
            severity_number=SeverityNumber.INFO if up else SeverityNumber.WARN,
            body=f"{backend} is {'up' if up else 'down'}",
            attributes={"qtenancy.backend.name": backend, "qtenancy.backend.up": up},
        ))
    provider.shutdown()


def export(endpoint: str, jobs: list[Job], sampled_meter: bool = False, report_status: bool = False) -> None:
    """Each job as one trace, its root span and a span per stage, as docs/semconv.md says."""
    resource = Resource.create({"service.name": "qiskit-broker", "service.version": "1.0"})
    if report_status:
        report_outage(endpoint, resource)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
                                                   max_queue_size=1 << 16))
    tracer = provider.get_tracer("qiskit.broker")
    for job in jobs:
        submitted = _ns(job.submitted)
        queued = submitted + NS // 2
        began = queued + int(job.queue * NS)
        ended = began + int(job.execute * NS)
        metered, closed = ended + NS // 5, ended + NS // 5 + NS // 10
        usable = not job.failed and job.fidelity is not None and job.fidelity >= FLOOR
        root = tracer.start_span("qtenancy.job", start_time=submitted, kind=trace.SpanKind.SERVER)
        pid = f"{root.get_span_context().trace_id:032x}"
        seconds = billed(began, ended, sampled_meter)
        attributes = {
            "qtenancy.provenance_id": pid, "qtenancy.job.stages": list(STAGES), "qtenancy.tenant.id": job.tenant,
            "qtenancy.tenant.namespace": f"team-{job.tenant}", "qtenancy.backend.name": job.backend,
            "qtenancy.job.shots": SHOTS, "qtenancy.circuit.qubits": job.qubits, "qtenancy.circuit.family": "ghz",
            "qtenancy.job.outcome": "failed" if job.failed else "succeeded", "qtenancy.result.usable": usable,
            "qtenancy.billing.seconds": seconds, "qtenancy.billing.shots": SHOTS,
            "qtenancy.job.expected_runtime": 45.0, "qtenancy.tenant.fidelity_floor": FLOOR,
        }
        if job.failed:
            attributes["qtenancy.job.reason"] = "backend_down"
            root.set_status(Status(StatusCode.ERROR, "failed: backend_down"))
        else:
            attributes["qtenancy.result.fidelity"] = job.fidelity
        root.set_attributes(attributes)
        context = trace.set_span_in_context(root)
        edges = {"submit": (submitted, queued), "queue": (queued, began), "execute": (began, ended),
                 "meter": (ended, metered), "notify": (metered, closed)}
        for stage, (begin, finish) in edges.items():
            span = tracer.start_span(f"qtenancy.job.{stage}", context=context, start_time=begin)
            span.set_attribute("qtenancy.provenance_id", pid)
            if stage == "execute" and job.failed:
                span.set_status(Status(StatusCode.ERROR, "backend_down"))
            if stage == "meter":
                span.set_attributes({"qtenancy.billing.seconds": seconds, "qtenancy.billing.shots": SHOTS})
                if sampled_meter:
                    span.set_attributes({"qtenancy.billing.meter": "sampled", "qtenancy.billing.meter.granularity": 5.0})
            span.end(end_time=finish)
        root.end(end_time=closed)
    provider.shutdown()

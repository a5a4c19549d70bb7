"""The telemetry contract every package speaks.

Kept in one place so that the emulator, the collector and the analytics agree on spelling;
a real broker that emits these names is observable by qtenancy without the emulator.
"""

from dataclasses import dataclass
from enum import StrEnum

SCHEMA_VERSION = "0.1.0"
SCHEMA_URL = f"https://qtenancy.dev/schemas/{SCHEMA_VERSION}"
INSTRUMENTATION_SCOPE = "qtenancy.broker"


class Stage(StrEnum):
    """Job lifecycle stages, in order; each is a span under the job's root span."""

    SUBMIT = "submit"
    AUTHORIZE = "authorize"
    QUEUE = "queue"
    SCHEDULE = "schedule"
    CALIBRATION_CHECK = "calibration_check"
    EXECUTE = "execute"
    POST_PROCESS = "post_process"
    STORE = "store"
    METER = "meter"
    NOTIFY = "notify"


STAGES: tuple[Stage, ...] = tuple(Stage)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class RejectReason(StrEnum):
    """Why the broker refused a submission at admission."""

    BAD_KEY = "bad_key"
    OVER_QUOTA = "over_quota"
    TOO_WIDE = "too_wide"
    MALFORMED_CIRCUIT = "malformed_circuit"


class FailureReason(StrEnum):
    """Why an admitted job did not return a result."""

    BACKEND_DOWN = "backend_down"
    PREPROCESS_TIMEOUT = "preprocess_timeout"
    POSTPROCESS_TIMEOUT = "postprocess_timeout"
    RESERVATION_PREEMPTION = "reservation_preemption"


class Priority(StrEnum):
    """Priority tiers; a higher tier is served first, aging promotes waiting work."""

    BATCH = "batch"
    STANDARD = "standard"
    INTERACTIVE = "interactive"


PRIORITY_TIER: dict[Priority, int] = {Priority.BATCH: 0, Priority.STANDARD: 1, Priority.INTERACTIVE: 2}


class CalibrationVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class Span(StrEnum):
    """Span names. A job is one trace: the root span, with one child span per lifecycle stage."""

    JOB = "qtenancy.job"
    CALIBRATION = "qtenancy.calibration"

    @staticmethod
    def stage(stage: Stage | str) -> str:
        return f"qtenancy.job.{Stage(stage).value}"


class Attr(StrEnum):
    """Span and log attribute names (OpenTelemetry style: lower case, dot-namespaced)."""

    PROVENANCE_ID = "qtenancy.provenance_id"
    STAGES = "qtenancy.job.stages"
    JOB_ID = "qtenancy.job.id"
    TENANT = "qtenancy.tenant.id"
    NAMESPACE = "qtenancy.tenant.namespace"
    PRIORITY = "qtenancy.job.priority"
    WORKLOAD = "qtenancy.job.workload"
    BACKEND = "qtenancy.backend.name"
    CONTROL_GROUP = "qtenancy.backend.control_group"
    SHOTS = "qtenancy.job.shots"
    QUBITS = "qtenancy.circuit.qubits"
    CIRCUIT_HASH = "qtenancy.circuit.hash"
    CIRCUIT_FAMILY = "qtenancy.circuit.family"
    RESERVED = "qtenancy.job.reserved"
    EXPECTED_RUNTIME = "qtenancy.job.expected_runtime"
    CALIBRATION_ID = "qtenancy.calibration.id"
    CALIBRATION_AGE = "qtenancy.calibration.age"
    OUTCOME = "qtenancy.job.outcome"
    REASON = "qtenancy.job.reason"
    USABLE = "qtenancy.result.usable"
    FIDELITY = "qtenancy.result.fidelity"
    PREDICTED_FIDELITY = "qtenancy.result.predicted_fidelity"
    BILLED_SECONDS = "qtenancy.billing.seconds"
    BILLED_SHOTS = "qtenancy.billing.shots"
    METER = "qtenancy.billing.meter"
    METER_GRANULARITY = "qtenancy.billing.meter.granularity"
    METER_MINIMUM = "qtenancy.billing.meter.minimum"
    METER_RESERVED_JOBS = "qtenancy.billing.meter.reserved_jobs"
    FIDELITY_FLOOR = "qtenancy.tenant.fidelity_floor"
    QUEUE_WAIT_TARGET = "qtenancy.tenant.queue_wait_target"
    COST_POLICY = "qtenancy.tenant.cost_policy"
    CALIBRATION_T1 = "qtenancy.calibration.t1"
    CALIBRATION_T2 = "qtenancy.calibration.t2"
    CALIBRATION_ERROR_1Q = "qtenancy.calibration.error_1q"
    CALIBRATION_ERROR_2Q = "qtenancy.calibration.error_2q"
    CALIBRATION_READOUT_ERROR = "qtenancy.calibration.readout_error"
    CALIBRATION_VERDICT = "qtenancy.calibration.verdict"
    CALIBRATION_ATTEMPT = "qtenancy.calibration.attempt"
    CALIBRATION_REASON = "qtenancy.calibration.reason"
    IN_ROTATION = "qtenancy.backend.in_rotation"
    BACKEND_UP = "qtenancy.backend.up"


class Event(StrEnum):
    """Log record event names (the OTLP ``event_name`` field of the log record)."""

    JOB_ADMITTED = "qtenancy.job.admitted"
    JOB_REJECTED = "qtenancy.job.rejected"
    JOB_FINISHED = "qtenancy.job.finished"
    CALIBRATION_FINISHED = "qtenancy.calibration.finished"
    BACKEND_STATUS = "qtenancy.backend.status"


@dataclass(frozen=True)
class AttributeSpec:
    name: Attr
    type: str
    on: tuple[str, ...]
    brief: str


_ROOT = ("job root span",)
_JOB = ("job root span", "job logs")
_EVERY = ("job root span", "stage spans", "job logs")
_CAL = ("calibration span", "calibration log")
_METER = ("meter span", "job root span")

ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec(Attr.PROVENANCE_ID, "string", _EVERY, "minted by the broker at submit; 32 hex digits, also the trace ID"),
    AttributeSpec(Attr.STAGES, "string[]", _ROOT, "every stage the broker emitted a span for: the completeness reference (M5)"),
    AttributeSpec(Attr.JOB_ID, "int", _ROOT, "the broker's sequence number of the submission"),
    AttributeSpec(Attr.TENANT, "string", _JOB, "absent when the API key matched no tenant"),
    AttributeSpec(Attr.NAMESPACE, "string", _ROOT, "the tenant's namespace"),
    AttributeSpec(Attr.PRIORITY, "string", _ROOT, "batch, standard or interactive"),
    AttributeSpec(Attr.WORKLOAD, "string", _ROOT, "the tenant's name for the stream of jobs"),
    AttributeSpec(Attr.BACKEND, "string", _JOB + _CAL + ("backend status log",),
                  "absent for jobs that never reached a backend"),
    AttributeSpec(Attr.CONTROL_GROUP, "string", _ROOT + _CAL, "backends sharing control electronics"),
    AttributeSpec(Attr.SHOTS, "int", _ROOT, "shots requested"),
    AttributeSpec(Attr.QUBITS, "int", _ROOT, "circuit width"),
    AttributeSpec(Attr.CIRCUIT_HASH, "string", _ROOT, "content hash of the circuit; never the circuit itself"),
    AttributeSpec(Attr.CIRCUIT_FAMILY, "string", _ROOT, "ghz, qft, random_layered or the client's label"),
    AttributeSpec(Attr.RESERVED, "boolean", _ROOT, "ran inside the tenant's reservation window"),
    AttributeSpec(Attr.EXPECTED_RUNTIME, "double", _ROOT, "seconds the broker expected the job to run, at queueing (SLI M8)"),
    AttributeSpec(Attr.CALIBRATION_ID, "int", _ROOT + ("calibration_check span",) + _CAL, "the calibration in force when the job started"),
    AttributeSpec(Attr.CALIBRATION_AGE, "double", _ROOT + ("calibration_check span",), "seconds since that calibration, at job start"),
    AttributeSpec(Attr.OUTCOME, "string", _JOB, "succeeded, failed, rejected, preempted, cancelled or timed_out"),
    AttributeSpec(Attr.REASON, "string", _JOB, "reject or failure reason code; absent on success"),
    AttributeSpec(Attr.USABLE, "boolean", _JOB, "the job returned a usable result (SLI M1)"),
    AttributeSpec(Attr.FIDELITY, "double", _ROOT, "Hellinger fidelity of the result to the ideal distribution; absent without a result"),
    AttributeSpec(Attr.PREDICTED_FIDELITY, "double", _ROOT, "what the router expected from the reported calibration"),
    AttributeSpec(Attr.BILLED_SECONDS, "double", _ROOT + ("meter span",), "seconds on the meter entry"),
    AttributeSpec(Attr.BILLED_SHOTS, "int", _ROOT + ("meter span",), "shots on the meter entry"),
    AttributeSpec(Attr.METER, "string", _METER, "how the meter bills: exact, rounded or sampled (absent: exact)"),
    AttributeSpec(Attr.METER_GRANULARITY, "double", _METER, "seconds: the rounding step (rounded) or sampling period (sampled)"),
    AttributeSpec(Attr.METER_MINIMUM, "double", _METER, "seconds: an executed job is billed at least this"),
    AttributeSpec(Attr.METER_RESERVED_JOBS, "string", _METER,
                  "per_job, or to_reservation: a reserved job's time is billed to the reservation, its entry owes 0"),
    AttributeSpec(Attr.FIDELITY_FLOOR, "double", _ROOT, "the tenant's floor: a result under it is not usable"),
    AttributeSpec(Attr.QUEUE_WAIT_TARGET, "double", _ROOT, "seconds: the tenant's queue-wait target (SLI M2)"),
    AttributeSpec(Attr.COST_POLICY, "string", _ROOT, "how the router weighs price: best_fidelity, balanced or cheapest"),
    AttributeSpec(Attr.CALIBRATION_T1, "double", _CAL, "median T1, seconds"),
    AttributeSpec(Attr.CALIBRATION_T2, "double", _CAL, "median T2, seconds"),
    AttributeSpec(Attr.CALIBRATION_ERROR_1Q, "double", _CAL, "median single-qubit gate error"),
    AttributeSpec(Attr.CALIBRATION_ERROR_2Q, "double", _CAL, "median two-qubit gate error"),
    AttributeSpec(Attr.CALIBRATION_READOUT_ERROR, "double", _CAL, "median readout error"),
    AttributeSpec(Attr.CALIBRATION_VERDICT, "string", _CAL, "pass or fail against spec"),
    AttributeSpec(Attr.CALIBRATION_ATTEMPT, "int", _CAL, "1 for a scheduled run, more for retries"),
    AttributeSpec(Attr.CALIBRATION_REASON, "string", _CAL, "which quantities were out of spec; empty on a pass"),
    AttributeSpec(Attr.IN_ROTATION, "boolean", _CAL, "whether the backend serves jobs after the run"),
    AttributeSpec(Attr.BACKEND_UP, "boolean", ("backend status log",),
                  "whether the backend can run jobs from this instant on (false: down)"),
)


class Label(StrEnum):
    TENANT = "tenant"
    NAMESPACE = "namespace"
    PRIORITY = "priority"
    BACKEND = "backend"
    CONTROL_GROUP = "control_group"
    DEVICE = "device"
    OUTCOME = "outcome"
    USABLE = "usable"
    VERDICT = "verdict"
    GATE = "gate"


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


@dataclass(frozen=True)
class MetricSpec:
    """One Prometheus metric family: ``name`` is the exposition name (counters end in ``_total``)."""

    name: str
    type: MetricType
    unit: str
    labels: tuple[Label, ...]
    help: str
    buckets: tuple[float, ...] = ()


QUEUE_WAIT_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
SUBMIT_TO_RESULT_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

L = Label


class Metric(StrEnum):
    JOBS = "qtenancy_jobs_total"
    QUEUE_WAIT = "qtenancy_job_queue_wait_seconds"
    SUBMIT_TO_RESULT = "qtenancy_job_submit_to_result_seconds"
    JOB_FIDELITY = "qtenancy_job_fidelity_ratio"
    JOB_EXPECTED_FIDELITY = "qtenancy_job_expected_fidelity_ratio"
    QUEUE_LENGTH = "qtenancy_queue_length"
    QUEUE_OLDEST_AGE = "qtenancy_queue_oldest_job_age_seconds"
    RUNNING_JOBS = "qtenancy_running_jobs"
    BACKEND_BUSY = "qtenancy_backend_busy_seconds_total"
    BILLED_SECONDS = "qtenancy_billed_seconds_total"
    BILLED_SHOTS = "qtenancy_billed_shots_total"
    CALIBRATION_RUNS = "qtenancy_calibration_runs_total"
    CALIBRATION_T1 = "qtenancy_backend_t1_seconds"
    CALIBRATION_T2 = "qtenancy_backend_t2_seconds"
    CALIBRATION_GATE_ERROR = "qtenancy_backend_gate_error_ratio"
    CALIBRATION_READOUT_ERROR = "qtenancy_backend_readout_error_ratio"
    BACKEND_IN_ROTATION = "qtenancy_backend_in_rotation"
    BACKEND_CALIBRATING = "qtenancy_backend_calibrating"
    BACKEND_UP = "qtenancy_backend_up"
    BACKEND_INFO = "qtenancy_backend_info"
    TENANT_INFO = "qtenancy_tenant_info"
    TENANT_QUOTA = "qtenancy_tenant_quota_share_ratio"
    TENANT_QUEUE_WAIT_TARGET = "qtenancy_tenant_queue_wait_target_seconds"
    TELEMETRY_SPANS_EXPORTED = "qtenancy_telemetry_spans_exported_total"
    TELEMETRY_SPANS_DROPPED = "qtenancy_telemetry_spans_dropped_total"


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(Metric.JOBS, MetricType.COUNTER, "", (L.TENANT, L.NAMESPACE, L.BACKEND, L.OUTCOME, L.USABLE),
               "Jobs closed, by outcome and whether they returned a usable result (SLI M1)."),
    MetricSpec(Metric.QUEUE_WAIT, MetricType.HISTOGRAM, "seconds", (L.TENANT, L.PRIORITY),
               "Time from queueing to the start of execution (SLI M2); exemplars carry the provenance ID.",
               QUEUE_WAIT_BUCKETS),
    MetricSpec(Metric.SUBMIT_TO_RESULT, MetricType.HISTOGRAM, "seconds", (L.TENANT,),
               "Time from submission to the closing notification (SLI M8); exemplars carry the provenance ID.",
               SUBMIT_TO_RESULT_BUCKETS),
    MetricSpec(Metric.JOB_FIDELITY, MetricType.SUMMARY, "ratio", (L.TENANT, L.BACKEND),
               "Measured Hellinger fidelity of each result (SLI M9 with the expected fidelity)."),
    MetricSpec(Metric.JOB_EXPECTED_FIDELITY, MetricType.SUMMARY, "ratio", (L.TENANT, L.BACKEND),
               "Fidelity the reported calibration predicted for each executed job: the noisy-neighbour baseline."),
    MetricSpec(Metric.QUEUE_LENGTH, MetricType.GAUGE, "", (L.BACKEND, L.TENANT), "Jobs waiting for a backend."),
    MetricSpec(Metric.QUEUE_OLDEST_AGE, MetricType.GAUGE, "seconds", (L.TENANT,),
               "Age of the tenant's oldest waiting job; 0 when none waits (starvation)."),
    MetricSpec(Metric.RUNNING_JOBS, MetricType.GAUGE, "", (L.BACKEND, L.TENANT), "Jobs executing now."),
    MetricSpec(Metric.BACKEND_BUSY, MetricType.COUNTER, "seconds", (L.BACKEND, L.TENANT),
               "Backend time used, by tenant: the trace-derived usage (SLI M6, M7)."),
    MetricSpec(Metric.BILLED_SECONDS, MetricType.COUNTER, "seconds", (L.BACKEND, L.TENANT),
               "Seconds on closed meter entries (SLI M6)."),
    MetricSpec(Metric.BILLED_SHOTS, MetricType.COUNTER, "", (L.TENANT,), "Shots on closed meter entries."),
    MetricSpec(Metric.CALIBRATION_RUNS, MetricType.COUNTER, "", (L.BACKEND, L.VERDICT),
               "Calibration runs by verdict (SLI M4)."),
    MetricSpec(Metric.CALIBRATION_T1, MetricType.GAUGE, "seconds", (L.BACKEND,), "Median T1 at the last calibration."),
    MetricSpec(Metric.CALIBRATION_T2, MetricType.GAUGE, "seconds", (L.BACKEND,), "Median T2 at the last calibration."),
    MetricSpec(Metric.CALIBRATION_GATE_ERROR, MetricType.GAUGE, "ratio", (L.BACKEND, L.GATE),
               "Median gate error (gate 1q or 2q) at the last calibration."),
    MetricSpec(Metric.CALIBRATION_READOUT_ERROR, MetricType.GAUGE, "ratio", (L.BACKEND,),
               "Median readout error at the last calibration."),
    MetricSpec(Metric.BACKEND_IN_ROTATION, MetricType.GAUGE, "", (L.BACKEND,),
               "1 while the scheduler may place jobs on the backend."),
    MetricSpec(Metric.BACKEND_CALIBRATING, MetricType.GAUGE, "", (L.BACKEND,), "1 while a calibration run holds the backend."),
    MetricSpec(Metric.BACKEND_UP, MetricType.GAUGE, "", (L.BACKEND,), "0 while the backend is down."),
    MetricSpec(Metric.BACKEND_INFO, MetricType.GAUGE, "", (L.BACKEND, L.CONTROL_GROUP, L.DEVICE),
               "Always 1: the backend's control group and device, for joins."),
    MetricSpec(Metric.TENANT_INFO, MetricType.GAUGE, "", (L.TENANT, L.NAMESPACE, L.PRIORITY),
               "Always 1: the tenant's namespace and priority tier, for joins."),
    MetricSpec(Metric.TENANT_QUOTA, MetricType.GAUGE, "ratio", (L.TENANT,), "The tenant's quota: its share of backend time."),
    MetricSpec(Metric.TENANT_QUEUE_WAIT_TARGET, MetricType.GAUGE, "seconds", (L.TENANT,),
               "The tenant's queue-wait target (SLI M2)."),
    MetricSpec(Metric.TELEMETRY_SPANS_EXPORTED, MetricType.COUNTER, "", (L.BACKEND,),
               "Job spans handed to the exporter (SLI M5)."),
    MetricSpec(Metric.TELEMETRY_SPANS_DROPPED, MetricType.COUNTER, "", (L.BACKEND,),
               "Job spans lost between the SDK and the exporter (SLI M5)."),
)

PLATFORM_METRICS: frozenset[str] = frozenset(
    {m.name.value for m in METRICS if Label.TENANT not in m.labels}
    | {Metric.TENANT_INFO.value, Metric.TENANT_QUOTA.value, Metric.TENANT_QUEUE_WAIT_TARGET.value}
)
"""Facts about backends and the platform's own configuration: only a platform (admin) token may send them."""
PLATFORM_RECORD_PREFIXES = (Span.CALIBRATION.value, Event.BACKEND_STATUS.value)
"""Calibration spans and log events (``qtenancy.calibration*``) and backend status records are platform records."""
PLATFORM_ATTRIBUTES: tuple[Attr, ...] = (Attr.CALIBRATION_VERDICT, Attr.IN_ROTATION, Attr.BACKEND_UP)
"""Attributes that drive platform alerts: a record carrying one is a platform record."""

"""The broker's Prometheus metrics, driven by replaying a run's events in virtual time.

One registry of prometheus-client metrics, declared from the telemetry contract; ``MetricsReplay``
applies the run's queueing, execution, closing, calibration and outage events up to a given instant,
so the live ``/metrics`` endpoint and the timestamped OpenMetrics file show the same numbers.
"""

from __future__ import annotations

import heapq

import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from contract.semconv import METRICS, Metric, MetricSpec, MetricType
from emulator.job_trace import present_stage_mask
from emulator.run import EmulationRun

QUEUED, STARTED, EXEC_END, FINISHED, CAL_START, CAL_END, DOWN, UP = range(8)
"""Event kinds; at equal times they apply in this order."""


def _declare(spec: MetricSpec, registry: CollectorRegistry):
    labels = [str(label) for label in spec.labels]
    match spec.type:
        case MetricType.COUNTER:
            return Counter(spec.name.removesuffix("_total"), spec.help, labels, registry=registry, unit=spec.unit)
        case MetricType.GAUGE:
            return Gauge(spec.name, spec.help, labels, registry=registry, unit=spec.unit)
        case MetricType.HISTOGRAM:
            return Histogram(spec.name, spec.help, labels, registry=registry, unit=spec.unit, buckets=spec.buckets)
        case MetricType.SUMMARY:
            return Summary(spec.name, spec.help, labels, registry=registry, unit=spec.unit)


def _ns(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("ns")


def _events(run: EmulationRun) -> pl.DataFrame:
    """(time_ns, kind, ref) for every event, sorted; ref is a job row, calibration row or backend index."""
    jobs = run.jobs.lazy().filter(pl.col("backend").is_not_null() | pl.col("finished_at").is_not_null())
    queued = pl.col("queue_start").is_not_null() & pl.col("backend").is_not_null()
    calibrations = run.calibrations.lazy().with_row_index("ref")
    horizon_ns = int(run.scenario.start.timestamp() * 1e9 + run.scenario.horizon * 1e9)
    index = {b.name: i for i, b in enumerate(run.scenario.backends)}
    frames = [
        jobs.filter(queued).select(time_ns=_ns("queue_start"), kind=pl.lit(QUEUED), ref="job_id"),
        jobs.filter(pl.col("execute_start").is_not_null()).select(time_ns=_ns("execute_start"), kind=pl.lit(STARTED), ref="job_id"),
        jobs.filter(pl.col("execute_end").is_not_null()).select(time_ns=_ns("execute_end"), kind=pl.lit(EXEC_END), ref="job_id"),
        jobs.filter(pl.col("finished_at").is_not_null()).select(time_ns=_ns("finished_at"), kind=pl.lit(FINISHED), ref="job_id"),
        calibrations.select(time_ns=_ns("started_at"), kind=pl.lit(CAL_START), ref="ref"),
        calibrations.select(time_ns=_ns("ended_at"), kind=pl.lit(CAL_END), ref="ref"),
        run.backend_status.lazy().select(
            time_ns=_ns("at"), kind=pl.when("up").then(pl.lit(UP)).otherwise(pl.lit(DOWN)),
            ref=pl.col("backend").replace_strict(index, return_dtype=pl.Int64),
        ),
    ]
    return (
        pl.concat(
            [f.select(pl.col("time_ns").cast(pl.Int64), pl.col("kind").cast(pl.Int32), pl.col("ref").cast(pl.Int64)) for f in frames]
        )
        .filter(pl.col("time_ns") <= horizon_ns)
        .sort("time_ns", "kind", "ref")
        .collect()
    )


def _job_columns(run: EmulationRun) -> dict[str, list]:
    spans = present_stage_mask().bitwise_count_ones().cast(pl.Int64) + 1
    return (
        run.jobs.select(
            "provenance_id",
            pl.col("tenant").fill_null(""),
            pl.col("namespace").fill_null(""),
            pl.col("priority").fill_null(""),
            pl.col("backend").fill_null(""),
            "outcome",
            usable=pl.when(pl.col("usable")).then(pl.lit("true")).otherwise(pl.lit("false")),
            submitted_ns=_ns("submitted_at"),
            queued_ns=_ns("queue_start"),
            finished_ns=_ns("finished_at"),
            started=pl.col("execute_start").is_not_null(),
            queue_wait="queue_wait_seconds",
            exec_seconds="exec_seconds",
            fidelity="measured_fidelity",
            expected="predicted_fidelity",
            billed_seconds="billed_seconds",
            billed_shots="billed_shots",
            dropped=pl.col("telemetry_lost_stages").list.len().cast(pl.Int64),
            exported=spans - pl.col("telemetry_lost_stages").list.len().cast(pl.Int64),
        )
        .to_dict(as_series=False)
    )


class MetricsReplay:
    """Metrics of one run, advanced event by event to any virtual instant."""

    def __init__(self, run: EmulationRun):
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = {spec.name: _declare(spec, self.registry) for spec in METRICS}
        self._jobs = _job_columns(run)
        self._calibrations = run.calibrations.to_dict(as_series=False)
        self._backends = [b.name for b in run.scenario.backends]
        events = _events(run)
        self._times = events["time_ns"].to_list()
        self._kinds = events["kind"].to_list()
        self._refs = events["ref"].to_list()
        self._next = 0
        self._waiting: dict[str, list[tuple[int, int]]] = {t.id: [] for t in run.scenario.tenants}
        self._left_queue: set[int] = set()
        self.start = run.scenario.start
        self.horizon = run.scenario.horizon
        self._describe(run)

    def _describe(self, run: EmulationRun) -> None:
        m = self.metrics
        for backend in run.scenario.backends:
            m[Metric.BACKEND_INFO].labels(backend.name, backend.control_group, backend.device).set(1)
            m[Metric.BACKEND_UP].labels(backend.name).set(1)
            m[Metric.BACKEND_IN_ROTATION].labels(backend.name).set(1)
            m[Metric.BACKEND_CALIBRATING].labels(backend.name).set(0)
        for tenant in run.scenario.tenants:
            m[Metric.TENANT_INFO].labels(tenant.id, tenant.namespace, tenant.priority.value).set(1)
            m[Metric.TENANT_QUOTA].labels(tenant.id).set(tenant.quota_share)
            m[Metric.TENANT_QUEUE_WAIT_TARGET].labels(tenant.id).set(tenant.queue_wait_target)
            m[Metric.QUEUE_OLDEST_AGE].labels(tenant.id).set(0)

    @property
    def done(self) -> bool:
        return self._next >= len(self._times)

    def advance(self, until_ns: int) -> None:
        """Apply every event at or before ``until_ns``, then set the gauges that depend on the instant."""
        times, kinds, refs = self._times, self._kinds, self._refs
        handlers = (self._queued, self._started, self._exec_end, self._finished,
                    self._calibration_start, self._calibration_end, self._down, self._up)
        i = self._next
        while i < len(times) and times[i] <= until_ns:
            handlers[kinds[i]](refs[i])
            i += 1
        self._next = i
        self._oldest_waiting(until_ns)

    def _oldest_waiting(self, now_ns: int) -> None:
        gauge = self.metrics[Metric.QUEUE_OLDEST_AGE]
        for tenant, heap in self._waiting.items():
            while heap and heap[0][1] in self._left_queue:
                self._left_queue.discard(heapq.heappop(heap)[1])
            gauge.labels(tenant).set(max(0.0, (now_ns - heap[0][0]) / 1e9) if heap else 0.0)

    def _queued(self, j: int) -> None:
        c = self._jobs
        self.metrics[Metric.QUEUE_LENGTH].labels(c["backend"][j], c["tenant"][j]).inc()
        heapq.heappush(self._waiting[c["tenant"][j]], (c["queued_ns"][j], j))

    def _leave_queue(self, j: int) -> None:
        c = self._jobs
        self.metrics[Metric.QUEUE_LENGTH].labels(c["backend"][j], c["tenant"][j]).dec()
        self._left_queue.add(j)

    def _started(self, j: int) -> None:
        c, m = self._jobs, self.metrics
        self._leave_queue(j)
        m[Metric.RUNNING_JOBS].labels(c["backend"][j], c["tenant"][j]).inc()
        m[Metric.QUEUE_WAIT].labels(c["tenant"][j], c["priority"][j]).observe(
            c["queue_wait"][j], {"trace_id": c["provenance_id"][j]}
        )

    def _exec_end(self, j: int) -> None:
        c, m = self._jobs, self.metrics
        m[Metric.RUNNING_JOBS].labels(c["backend"][j], c["tenant"][j]).dec()
        m[Metric.BACKEND_BUSY].labels(c["backend"][j], c["tenant"][j]).inc(c["exec_seconds"][j])

    def _finished(self, j: int) -> None:
        c, m = self._jobs, self.metrics
        tenant, backend = c["tenant"][j], c["backend"][j]
        if c["queued_ns"][j] is not None and backend and not c["started"][j]:
            self._leave_queue(j)
        m[Metric.JOBS].labels(tenant, c["namespace"][j], backend, c["outcome"][j], c["usable"][j]).inc()
        if tenant:
            m[Metric.SUBMIT_TO_RESULT].labels(tenant).observe(
                (c["finished_ns"][j] - c["submitted_ns"][j]) / 1e9, {"trace_id": c["provenance_id"][j]}
            )
        if c["fidelity"][j] is not None:
            m[Metric.JOB_FIDELITY].labels(tenant, backend).observe(c["fidelity"][j])
            m[Metric.JOB_EXPECTED_FIDELITY].labels(tenant, backend).observe(c["expected"][j])
        if c["billed_seconds"][j]:
            m[Metric.BILLED_SECONDS].labels(backend, tenant).inc(c["billed_seconds"][j])
        if c["billed_shots"][j]:
            m[Metric.BILLED_SHOTS].labels(tenant).inc(c["billed_shots"][j])
        m[Metric.TELEMETRY_SPANS_EXPORTED].labels(backend).inc(c["exported"][j])
        if c["dropped"][j]:
            m[Metric.TELEMETRY_SPANS_DROPPED].labels(backend).inc(c["dropped"][j])

    def _calibration_start(self, i: int) -> None:
        self.metrics[Metric.BACKEND_CALIBRATING].labels(self._calibrations["backend"][i]).set(1)

    def _calibration_end(self, i: int) -> None:
        c, m = self._calibrations, self.metrics
        backend = c["backend"][i]
        m[Metric.BACKEND_CALIBRATING].labels(backend).set(0)
        m[Metric.CALIBRATION_RUNS].labels(backend, c["verdict"][i]).inc()
        m[Metric.CALIBRATION_T1].labels(backend).set(c["t1"][i])
        m[Metric.CALIBRATION_T2].labels(backend).set(c["t2"][i])
        m[Metric.CALIBRATION_GATE_ERROR].labels(backend, "1q").set(c["error_1q"][i])
        m[Metric.CALIBRATION_GATE_ERROR].labels(backend, "2q").set(c["error_2q"][i])
        m[Metric.CALIBRATION_READOUT_ERROR].labels(backend).set(c["readout_error"][i])
        m[Metric.BACKEND_IN_ROTATION].labels(backend).set(1 if c["in_rotation"][i] else 0)

    def _down(self, b: int) -> None:
        self.metrics[Metric.BACKEND_UP].labels(self._backends[b]).set(0)

    def _up(self, b: int) -> None:
        self.metrics[Metric.BACKEND_UP].labels(self._backends[b]).set(1)

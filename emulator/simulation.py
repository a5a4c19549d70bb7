"""The discrete-event run: submissions flow through broker, scheduler and backends in virtual time.

Everything random is drawn from streams spawned from one seed, and ties between events are broken
by insertion order, so a seed fixes the run bit for bit. It runs past 400 lines because the event loop
and its handlers share one mutable state and one ordering of random draws: split apart, the order of
draws (and so every seeded run) would depend on how the pieces call each other.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from contract.semconv import CalibrationVerdict, FailureReason, Outcome, RejectReason
from emulator.broker import Broker
from emulator.calibration import Drift, measure
from emulator.crosstalk import ControlGroupActivity, Execution
from emulator.devices import DeviceSnapshot, load_device
from emulator.job_log import JobLog
from emulator.job_trace import METER_SECONDS, NOTIFY_SECONDS, STORE_SECONDS
from emulator.meter import billing_factor, declared_meter
from emulator.noisy_execution import (
    CompiledCircuit,
    DistributionCache,
    compile_circuit,
    drift_scale,
    predicted_fidelity,
)
from emulator.scenario import (
    BackendOutage,
    BillingDiscrepancy,
    CalibrationDrift,
    PreprocessTimeout,
    Scenario,
    SchedulerStarvation,
)
from emulator.scheduler import BackendView, QueuedJob, Scheduler
from emulator.workload import CircuitPool, Submissions, WorkloadSlot, generate

AUTHORIZE_SECONDS = 0.004
PROGRESS_EVERY = 20_000

EXEC_END, CAL_DUE, CAL_END, RES_START, RES_END, OUTAGE_START, OUTAGE_END, READY, WAKE = range(9)


@dataclass
class Backends:
    """Per-backend state of the run, one list entry per backend."""

    snapshots: list[DeviceSnapshot]
    views: list[BackendView]
    drift: list[Drift]
    running: list[int]
    running_start: list[float]
    calibrating: list[bool]
    calibration_pending: list[bool]
    calibration_token: list[int]
    failed_attempts: list[int]
    calibration_id: list[int]
    calibration_time: list[float]
    reported_factor: list[float]
    outages: list[int]
    """Outages in force on each backend: overlapping outage windows keep it down until the last one ends."""


class Simulation:
    def __init__(self, scenario: Scenario, seed: int):
        self.scenario = scenario
        self.seed = seed
        streams = np.random.SeedSequence(seed).spawn(5 + len(scenario.backends))
        self._workload_rng = np.random.default_rng(streams[0])
        self._calibration_rng = np.random.default_rng(streams[1])
        self.result_rng = np.random.default_rng(streams[2])
        self.telemetry_rng = np.random.default_rng(streams[3])
        broker_seed = int(streams[4].generate_state(1)[0])
        self.pool = CircuitPool.empty()
        self.submissions: Submissions
        self.slots: list[WorkloadSlot]
        self.submissions, self.slots = generate(scenario, self.pool, self._workload_rng)
        names = [b.name for b in scenario.backends]
        self.backend_index = {n: i for i, n in enumerate(names)}
        snapshots = [load_device(b.device) for b in scenario.backends]
        groups = sorted({b.control_group for b in scenario.backends})
        self.control_group = [groups.index(b.control_group) for b in scenario.backends]
        self.b = Backends(
            snapshots=snapshots,
            views=[BackendView(b.name, s.num_qubits, b.price_per_second) for b, s in zip(scenario.backends, snapshots)],
            drift=[
                Drift(
                    scenario.calibration,
                    [f for f in scenario.faults if isinstance(f, CalibrationDrift) and f.backend == b.name],
                    np.random.default_rng(streams[5 + i]),
                )
                for i, b in enumerate(scenario.backends)
            ],
            running=[-1] * len(names),
            running_start=[0.0] * len(names),
            calibrating=[False] * len(names),
            calibration_pending=[False] * len(names),
            calibration_token=[0] * len(names),
            failed_attempts=[0] * len(names),
            calibration_id=[-1] * len(names),
            calibration_time=[0.0] * len(names),
            reported_factor=[1.0] * len(names),
            outages=[0] * len(names),
        )
        self.broker = Broker(scenario.tenants, max(s.num_qubits for s in snapshots), broker_seed)
        self.scheduler = Scheduler(scenario, self.b.views, self._predict)
        self.activity = ControlGroupActivity(self.control_group, scenario.crosstalk.coefficient)
        self.distributions = DistributionCache(step=scenario.calibration.drift.step)
        self.log = JobLog()
        self.distribution_keys: dict[tuple[int, int, int], int] = {}
        self._compiled: dict[tuple[int, str], CompiledCircuit] = {}
        self._predicted: dict[tuple[int, int, int], float] = {}
        self._allowed = [
            tuple(self.backend_index[n] for n in slot.pinned) if slot.pinned else None for slot in self.slots
        ]
        self._tenant_ids = [t.id for t in scenario.tenants]
        self._keys = [t.api_key for t in scenario.tenants]
        self._billing = [f for f in scenario.faults if isinstance(f, BillingDiscrepancy)]
        self._preprocess_faults = [f for f in scenario.faults if isinstance(f, PreprocessTimeout)]
        self._events: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._calibration_counter = 0
        execution = scenario.execution
        self._overhead = execution.job_overhead
        self._rep_delay = execution.rep_delay_us * 1e-6
        self._pp_timeout = execution.post_process.timeout
        self._meter = declared_meter(scenario)
        self._meter_phase = scenario.start.timestamp() % self._meter.granularity_seconds
        """Run offsets plus this are on a clock whose multiples of the granularity are Unix time's."""

    def compiled(self, circuit: int, backend: int) -> CompiledCircuit:
        snapshot = self.b.snapshots[backend]
        key = (circuit, snapshot.device)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_circuit(self.pool.circuits[circuit], snapshot)
        return found

    def _predict(self, circuit: int, backend: int) -> float:
        key = (circuit, backend, self.b.calibration_id[backend])
        found = self._predicted.get(key)
        if found is None:
            compiled = self.compiled(circuit, backend)
            found = predicted_fidelity(compiled, self.b.snapshots[backend], self.b.reported_factor[backend])
            self._predicted[key] = found
        return found

    def _push(self, time: float, kind: int, backend: int = -1, payload: int = -1) -> None:
        self._seq += 1
        heapq.heappush(self._events, (time, self._seq, kind, backend, payload))

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        horizon = self.scenario.horizon
        self._initial_events()
        subs = self.submissions
        times = subs.time.tolist()
        events = self._events
        for i, t in enumerate(times):
            while events and events[0][0] <= t:
                self._handle(heapq.heappop(events))
            self._submit(i, t)
            if progress is not None and i % PROGRESS_EVERY == 0:
                progress(t / horizon)
        while events and events[0][0] <= horizon:
            self._handle(heapq.heappop(events))
        if progress is not None:
            progress(1.0)

    def _initial_events(self) -> None:
        interval = self.scenario.calibration.interval
        for b in range(len(self.b.views)):
            self._calibrate_now(b, 0.0, next_due=interval * (b + 1) / len(self.b.views), steady=True)
        for b, start, end, tenant in self.scheduler.reservation_windows():
            self._push(start, RES_START, b, tenant)
            self._push(end, RES_END, b, tenant)
        for f in self.scenario.faults:
            if isinstance(f, BackendOutage):
                self._push(f.start, OUTAGE_START, self.backend_index[f.backend])
                self._push(f.end, OUTAGE_END, self.backend_index[f.backend])
            elif isinstance(f, SchedulerStarvation):
                # jobs held back by the misconfiguration may sit on idle backends
                self._push(f.end, WAKE)

    def _handle(self, event: tuple[float, int, int, int, int]) -> None:
        now, _, kind, b, payload = event
        if kind == EXEC_END:
            self._finish_execution(b, payload, now)
        elif kind == READY:
            self._route(payload, now)
        elif kind == CAL_DUE:
            self.b.calibration_pending[b] = True
            self._dispatch(b, now)
        elif kind == CAL_END:
            if payload == self.b.calibration_token[b]:
                self._calibration_done(b, now)
        elif kind == RES_START:
            self._reservation_starts(b, payload, now)
        elif kind == RES_END:
            self._dispatch(b, now)
        elif kind == OUTAGE_START:
            self._outage_starts(b, now)
        elif kind == OUTAGE_END:
            self._outage_ends(b, now)
        elif kind == WAKE:
            for backend in range(len(self.b.views)):
                self._dispatch(backend, now)

    # submission and admission

    def _submit(self, i: int, now: float) -> None:
        """Submission ``i`` becomes log row ``i``: later stages index submissions by row."""
        subs = self.submissions
        tenant = int(subs.tenant[i])
        circuit = self.pool.circuits[int(subs.circuit[i])]
        shots = int(subs.shots[i])
        key = self._keys[tenant] if not subs.bad_key[i] else f"revoked-{self._keys[tenant]}"
        admission = self.broker.submit(key, circuit, shots, self.scheduler.queued_by_tenant[tenant], now)
        log = self.log.columns
        row = self.log.new_row()
        log["provenance_id"][row] = admission.provenance_id
        log["tenant"][row] = -1 if admission.tenant is None else admission.tenant
        log["workload"][row] = int(subs.workload[i])
        log["circuit"][row] = int(subs.circuit[i])
        log["shots"][row] = shots
        log["submitted"][row] = now
        authorized = now + AUTHORIZE_SECONDS
        log["authorized"][row] = authorized
        if not admission.accepted:
            self._close(row, authorized, Outcome.REJECTED, admission.reason, admission.detail)
            return
        preprocess = float(subs.preprocess[i]) * self._preprocess_slowdown(tenant, now)
        timeout = float(subs.preprocess_timeout[i])
        if preprocess > timeout:
            self._close(
                row,
                authorized + timeout,
                Outcome.TIMED_OUT,
                FailureReason.PREPROCESS_TIMEOUT,
                f"pre-processing exceeded its {timeout:g}s timeout",
            )
            return
        self._push(authorized + preprocess, READY, -1, row)

    def _preprocess_slowdown(self, tenant: int, now: float) -> float:
        slowdown = 1.0
        for f in self._preprocess_faults:
            if f.tenant == self._tenant_ids[tenant] and f.start <= now < f.end:
                slowdown *= f.slowdown
        return slowdown

    def _close(self, row: int, when: float, outcome: Outcome, reason: str | None, detail: str) -> None:
        log = self.log.columns
        log["outcome"][row] = outcome.value
        log["reason"][row] = None if reason is None else str(reason)
        log["detail"][row] = detail
        log["finished"][row] = when

    def _queued_job(self, row: int, now: float) -> QueuedJob:
        log = self.log.columns
        circuit = log["circuit"][row]
        return QueuedJob(
            row=row,
            tenant=log["tenant"][row],
            circuit=circuit,
            width=self.pool.circuits[circuit].num_qubits,
            planned=self._overhead + log["shots"][row] * self._rep_delay,
            queued_at=now,
            allowed=self._allowed[log["workload"][row]],
        )

    def _route(self, row: int, now: float, job: QueuedJob | None = None, exclude: int = -1) -> None:
        log = self.log.columns
        if job is None:
            job = self._queued_job(row, now)
            log["queued"][row] = now
            log["expected_runtime"][row] = job.planned
        route = self.scheduler.route(job, now, exclude)
        if route is None:
            self._close(row, now, Outcome.REJECTED, RejectReason.TOO_WIDE, "no backend this workload may use is wide enough")
            return
        log["backend"][row] = route.backend
        log["predicted_fidelity"][row] = route.predicted_fidelity
        log["floor_met"][row] = route.floor_met
        self.scheduler.enqueue(job, route.backend)
        self._dispatch(route.backend, now)

    def _reroute(self, jobs: list[QueuedJob], now: float, exclude: int) -> None:
        reroutes = self.log.columns["reroutes"]
        for job in jobs:
            reroutes[job.row] += 1
            self._route(job.row, now, job, exclude)

    # backends

    def _dispatch(self, b: int, now: float) -> None:
        st = self.b
        view = st.views[b]
        if st.running[b] >= 0 or st.calibrating[b] or view.down:
            return
        if st.calibration_pending[b]:
            self._start_calibration(b, now)
            return
        if not view.in_rotation:
            return
        job = self.scheduler.next_job(b, now)
        if job is not None:
            self._start_job(job, b, now)

    def _start_job(self, job: QueuedJob, b: int, now: float) -> None:
        log = self.log.columns
        st = self.b
        row = job.row
        compiled = self.compiled(job.circuit, b)
        duration = self._overhead + log["shots"][row] * (compiled.duration + self._rep_delay)
        end = now + duration
        log["backend"][row] = b
        log["started"][row] = now
        log["calibration_id"][row] = st.calibration_id[b]
        log["calibration_age"][row] = now - st.calibration_time[b]
        log["drift_bucket"][row] = st.drift[b].bucket(now)
        log["reserved"][row] = self.scheduler.reservation_owner(b, now) == job.tenant
        activity = compiled.activity * float(self.submissions.activity[row])
        log["activity"][row] = activity
        st.running[b] = row
        st.running_start[b] = now
        st.views[b].busy_until = end
        self.scheduler.charge(job.tenant, duration, now)
        self.activity.started(Execution(b, job.tenant, now, end, activity))
        self._push(end, EXEC_END, b, row)

    def _finish_execution(self, b: int, row: int, now: float) -> None:
        st = self.b
        if st.running[b] != row:
            return
        log = self.log.columns
        start = log["started"][row]
        exposure = self.activity.exposure(b, start, now)
        log["exec_end"][row] = now
        log["crosstalk"][row] = exposure.weight
        log["aggressor"][row] = exposure.aggressor
        log["aggressor_share"][row] = exposure.aggressor_share
        key = (log["circuit"][row], b, log["drift_bucket"][row])
        log["distribution"][row] = self.distribution_keys.setdefault(key, len(self.distribution_keys))
        postprocess = float(self.submissions.postprocess[row])
        if postprocess > self._pp_timeout:
            post_end = now + self._pp_timeout
            outcome, reason = Outcome.TIMED_OUT, FailureReason.POSTPROCESS_TIMEOUT
            detail = f"post-processing exceeded its {self._pp_timeout:g}s timeout"
        else:
            post_end, outcome, reason, detail = now + postprocess, Outcome.SUCCEEDED, None, ""
        log["post_end"][row] = post_end
        self._bill(row, start, now, post_end)
        self._close(row, post_end + STORE_SECONDS + METER_SECONDS + NOTIFY_SECONDS, outcome, reason, detail)
        st.running[b] = -1
        st.views[b].busy_until = now
        self._dispatch(b, now)

    def _bill(self, row: int, start: float, end: float, closed_at: float) -> None:
        log = self.log.columns
        factor = billing_factor(self._billing, self._tenant_ids[log["tenant"][row]], closed_at)
        log["billing_factor"][row] = factor
        phase, reserved = self._meter_phase, bool(log["reserved"][row])
        log["billed_seconds"][row] = self._meter.owed_seconds(start + phase, end + phase, reserved) * factor

    def _interrupt(self, b: int, now: float, outcome: Outcome, reason: FailureReason, detail: str) -> None:
        """End the running job early: it used the backend until now and returns no result."""
        st = self.b
        row = st.running[b]
        if row < 0:
            return
        log = self.log.columns
        log["exec_end"][row] = now
        self.scheduler.charge(log["tenant"][row], -(st.views[b].busy_until - now), now)
        self._bill(row, log["started"][row], now, now)
        self._close(row, now + METER_SECONDS + NOTIFY_SECONDS, outcome, reason, detail)
        st.running[b] = -1
        st.views[b].busy_until = now

    def _reservation_starts(self, b: int, owner: int, now: float) -> None:
        running = self.b.running[b]
        if running >= 0 and self.log.columns["tenant"][running] != owner:
            self._interrupt(
                b,
                now,
                Outcome.PREEMPTED,
                FailureReason.RESERVATION_PREEMPTION,
                f"preempted by {self._tenant_ids[owner]}'s reservation of {self.b.views[b].name}",
            )
        self._reroute(self.scheduler.drain(b, keep_tenant=owner), now, exclude=b)
        self._dispatch(b, now)

    def _outage_starts(self, b: int, now: float) -> None:
        st = self.b
        st.outages[b] += 1
        if st.outages[b] > 1:
            return
        st.views[b].down = True
        self.log.add_backend_status(b, now, up=False)
        self._interrupt(b, now, Outcome.FAILED, FailureReason.BACKEND_DOWN, f"{st.views[b].name} went down")
        if st.calibrating[b]:
            st.calibrating[b] = False
            st.calibration_token[b] += 1
        self._reroute(self.scheduler.drain(b), now, exclude=b)

    def _outage_ends(self, b: int, now: float) -> None:
        st = self.b
        st.outages[b] -= 1
        if st.outages[b] > 0:
            return
        st.views[b].down = False
        self.log.add_backend_status(b, now, up=True)
        st.calibration_pending[b] = True
        self._dispatch(b, now)

    # calibration

    def _start_calibration(self, b: int, now: float) -> None:
        st = self.b
        st.calibration_pending[b] = False
        st.calibrating[b] = True
        st.calibration_token[b] += 1
        hold = self.scenario.calibration.duration
        end = now + hold
        st.views[b].busy_until = end
        self._push(end, CAL_END, b, st.calibration_token[b])
        self._reroute(self.scheduler.drain_before_hold(b, hold, now), now, exclude=b)

    def _calibration_done(self, b: int, now: float) -> None:
        st = self.b
        st.calibrating[b] = False
        st.views[b].busy_until = now
        self._calibrate_now(b, now)
        self._dispatch(b, now)

    def _calibrate_now(self, b: int, now: float, next_due: float | None = None, steady: bool = False) -> None:
        """Re-tune, measure and judge backend ``b``; take it out of rotation after repeated failures.

        After a pass the next run is due one interval later, or at ``next_due`` when given. The run
        starts in steady operation (``steady``): every backend freshly and well tuned, later runs
        staggered across backends, so a run's first hour is no different from any other. A retry after
        a failed run re-tunes with care (never badly), so only a real defect fails twice in a row.
        """
        st = self.b
        policy = self.scenario.calibration
        st.drift[b].retune(now, reliable=steady or st.failed_attempts[b] > 0)
        bucket = st.drift[b].bucket(now)
        m = measure(st.snapshots[b], drift_scale(policy.drift.step, bucket), policy, self._calibration_rng)
        self._calibration_counter += 1
        st.calibration_id[b] = self._calibration_counter
        st.calibration_time[b] = now
        st.reported_factor[b] = m.factor
        passed = m.verdict is CalibrationVerdict.PASS
        attempt = st.failed_attempts[b] + 1
        if passed:
            st.failed_attempts[b] = 0
            st.views[b].in_rotation = True
            self._push(now + policy.interval if next_due is None else next_due, CAL_DUE, b)
        else:
            st.failed_attempts[b] += 1
            if st.failed_attempts[b] <= policy.max_retries:
                self._push(now + policy.retry_after, CAL_DUE, b)
            else:
                st.views[b].in_rotation = False
                self._reroute(self.scheduler.drain(b), now, exclude=b)
                self._push(now + policy.recovery_interval, CAL_DUE, b)
        self.log.add_calibration(
            calibration_id=self._calibration_counter,
            backend=b,
            started=now - (policy.duration if now > 0 else 0.0),
            ended=now,
            attempt=attempt,
            t1=m.t1,
            t2=m.t2,
            error_1q=m.error_1q,
            error_2q=m.error_2q,
            readout_error=m.readout_error,
            error_factor=m.factor,
            verdict=m.verdict.value,
            reason=m.reason,
            true_drift_bucket=bucket,
            in_rotation=st.views[b].in_rotation,
        )

"""The scheduler: calibration-aware routing, then fair-share, priority and reservations per backend.

Routing picks a backend when a job is admitted (best expected fidelity under the tenant's floor
and cost policy, traded against the backlog, and steered away from a backend where the job would
wait past its tenant's queue-wait target, such as one that is calibrating; when no backend is
predicted to meet the floor, the one predicted closest to it); each backend then serves its queue by priority tier
(promoted by aging up to the top tier, so nothing starves) and, within a tier, by the tenant
furthest below its quota share of decayed backend time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.semconv import PRIORITY_TIER
from emulator.scenario import Scenario, SchedulerStarvation

TOP_TIER = max(PRIORITY_TIER.values())
COST_WEIGHT = {"best_fidelity": 0.0, "balanced": 0.05, "cheapest": 1.0}
RESERVED_BONUS = 10.0
LATE_WEIGHT = 1.0
"""Score lost per queue-wait target a job would wait beyond its tenant's target on a backend."""
USAGE_RENORMALISE = 30.0


@dataclass(slots=True)
class QueuedJob:
    """What the scheduler needs of a job; the simulation keeps the rest."""

    row: int
    tenant: int
    circuit: int
    width: int
    planned: float
    queued_at: float
    allowed: tuple[int, ...] | None


@dataclass(slots=True)
class BackendView:
    """What routing may know of a backend: its shape, availability and reported calibration."""

    name: str
    width: int
    price: float
    in_rotation: bool = True
    down: bool = False
    busy_until: float = 0.0


@dataclass
class Route:
    backend: int
    predicted_fidelity: float
    floor_met: bool


@dataclass
class Scheduler:
    scenario: Scenario
    backends: list[BackendView]
    predict: Callable[[int, int], float]
    _queues: list[dict[int, deque[QueuedJob]]] = field(init=False)
    queued_by_tenant: list[int] = field(init=False)
    backlog: list[float] = field(init=False)

    def __post_init__(self) -> None:
        tenants = self.scenario.tenants
        policy = self.scenario.scheduler
        names = {b.name: i for i, b in enumerate(self.backends)}
        self._tier = [PRIORITY_TIER[t.priority] for t in tenants]
        self._quota = [t.quota_share for t in tenants]
        self._floor = [t.fidelity_floor for t in tenants]
        self._target = [t.queue_wait_target for t in tenants]
        self._cost_weight = [COST_WEIGHT[t.cost_policy] for t in tenants]
        self._aging = policy.aging_per_tier
        self._wait_weight = policy.wait_weight_per_hour / 3600.0
        self._tau = policy.fairshare_half_life / math.log(2)
        self._usage = [0.0] * len(tenants)
        self._usage_ref = 0.0
        mean_price = sum(b.price for b in self.backends) / len(self.backends)
        self._relative_price = [b.price / mean_price for b in self.backends]
        self._reservations: list[list[tuple[float, float, int]]] = [[] for _ in self.backends]
        for i, t in enumerate(tenants):
            for r in t.reservations:
                self._reservations[names[r.backend]].append((r.start, r.end, i))
        self._starvation: dict[int, list[SchedulerStarvation]] = {}
        tenant_index = {t.id: i for i, t in enumerate(tenants)}
        for f in self.scenario.faults:
            if isinstance(f, SchedulerStarvation):
                self._starvation.setdefault(tenant_index[f.tenant], []).append(f)
        self._queues = [{} for _ in self.backends]
        self.queued_by_tenant = [0] * len(tenants)
        self.backlog = [0.0] * len(self.backends)

    def reservation_owner(self, backend: int, now: float) -> int:
        for start, end, tenant in self._reservations[backend]:
            if start <= now < end:
                return tenant
        return -1

    def reservation_windows(self) -> list[tuple[int, float, float, int]]:
        return [(b, s, e, t) for b, windows in enumerate(self._reservations) for s, e, t in windows]

    def route(self, job: QueuedJob, now: float, exclude: int = -1) -> Route | None:
        """Best backend for the job now, or None when no backend it may use is wide enough."""
        best: tuple[bool, float] | None = None
        chosen = None
        candidates = job.allowed if job.allowed is not None else range(len(self.backends))
        for b in candidates:
            view = self.backends[b]
            if b == exclude or view.width < job.width or view.down or not view.in_rotation:
                continue
            owner = self.reservation_owner(b, now)
            if owner >= 0 and owner != job.tenant:
                continue
            fidelity = self.predict(job.circuit, b)
            wait = max(0.0, view.busy_until - now) + self.backlog[b]
            target = self._target[job.tenant]
            late = max(0.0, wait - target) / target
            score = (fidelity - self._wait_weight * wait - self._cost_weight[job.tenant] * self._relative_price[b]
                     - LATE_WEIGHT * late)
            if owner == job.tenant:
                score += RESERVED_BONUS
            floor_met = fidelity >= self._floor[job.tenant]
            key = (floor_met, score if floor_met else fidelity)
            if best is None or key > best:
                best, chosen = key, Route(b, fidelity, key[0])
        if chosen is not None:
            return chosen
        fallback = [b for b in candidates if self.backends[b].width >= job.width and b != exclude]
        if not fallback:
            return None
        b = fallback[0]
        return Route(b, self.predict(job.circuit, b), False)

    def enqueue(self, job: QueuedJob, backend: int) -> None:
        queue = self._queues[backend].get(job.tenant)
        if queue is None:
            queue = self._queues[backend][job.tenant] = deque()
        queue.append(job)
        self.queued_by_tenant[job.tenant] += 1
        self.backlog[backend] += job.planned

    def has_work(self, backend: int) -> bool:
        return bool(self._queues[backend])

    def effective_tier(self, tenant: int, waited: float) -> int:
        """Aging promotes a waiting job up to the top tier, never past it: once every backlog has aged
        to the top, fair share alone decides, so aging cannot turn quotas into first-come-first-served."""
        return min(self._tier[tenant] + int(waited // self._aging), TOP_TIER)

    def starved(self, tenant: int, now: float) -> bool:
        """Fault F2: a misconfigured priority class of weight zero, so the tenant is never picked."""
        return any(f.start <= now < f.end for f in self._starvation.get(tenant, ()))

    def next_job(self, backend: int, now: float) -> QueuedJob | None:
        queues = self._queues[backend]
        if not queues:
            return None
        owner = self.reservation_owner(backend, now)
        if owner >= 0:
            pick = owner if owner in queues and not self.starved(owner, now) else None
        else:
            pick, best = None, None
            for tenant, queue in queues.items():
                if self._starvation and self.starved(tenant, now):
                    continue
                key = (-self.effective_tier(tenant, now - queue[0].queued_at), self._usage[tenant] / self._quota[tenant], tenant)
                if best is None or key < best:
                    pick, best = tenant, key
        if pick is None:
            return None
        return self._pop(backend, pick)

    def _pop(self, backend: int, tenant: int) -> QueuedJob:
        queue = self._queues[backend][tenant]
        job = queue.popleft()
        if not queue:
            del self._queues[backend][tenant]
        self.queued_by_tenant[tenant] -= 1
        self.backlog[backend] -= job.planned
        return job

    def drain(self, backend: int, keep_tenant: int = -1) -> list[QueuedJob]:
        """Take every queued job off a backend (except ``keep_tenant``'s), oldest first, for re-routing."""
        taken: list[QueuedJob] = []
        for tenant in [t for t in self._queues[backend] if t != keep_tenant]:
            while tenant in self._queues[backend]:
                taken.append(self._pop(backend, tenant))
        taken.sort(key=lambda j: (j.queued_at, j.row))
        return taken

    def drain_before_hold(self, backend: int, hold: float, now: float) -> list[QueuedJob]:
        """Take off a backend about to stop for ``hold`` seconds (a calibration) the queued jobs of tenants whose
        queue-wait target is shorter than that, when another backend could run them: a calibration-aware
        scheduler does not leave interactive work waiting behind a calibration."""
        taken: list[QueuedJob] = []
        for tenant in [t for t in self._queues[backend] if self._target[t] < hold]:
            queue = self._queues[backend][tenant]
            moving = [j for j in queue if self._elsewhere(j, backend, now)]
            for job in moving:
                queue.remove(job)
                self.queued_by_tenant[tenant] -= 1
                self.backlog[backend] -= job.planned
            if not queue:
                del self._queues[backend][tenant]
            taken += moving
        taken.sort(key=lambda j: (j.queued_at, j.row))
        return taken

    def _elsewhere(self, job: QueuedJob, backend: int, now: float) -> bool:
        """Some other backend the job may use is up, in rotation, wide enough and not reserved for another tenant."""
        candidates = job.allowed if job.allowed is not None else range(len(self.backends))
        return any(
            b != backend and self.backends[b].width >= job.width and not self.backends[b].down
            and self.backends[b].in_rotation and self.reservation_owner(b, now) in (-1, job.tenant)
            for b in candidates
        )

    def charge(self, tenant: int, seconds: float, now: float) -> None:
        """Add backend time to a tenant's decayed usage (stored scaled by e^(t/tau) to avoid decaying all)."""
        exponent = (now - self._usage_ref) / self._tau
        if exponent > USAGE_RENORMALISE:
            shrink = math.exp(-exponent)
            self._usage = [u * shrink for u in self._usage]
            self._usage_ref, exponent = now, 0.0
        self._usage[tenant] += seconds * math.exp(exponent)

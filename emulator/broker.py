"""The broker: authenticates a submission, mints its provenance ID and decides admission."""

from __future__ import annotations

import random
from dataclasses import dataclass

from contract.semconv import RejectReason
from emulator.circuits import Circuit, malformed_reason
from emulator.scenario import Tenant

MAX_SHOTS = 1_000_000


@dataclass(frozen=True)
class Admission:
    provenance_id: str
    tenant: int | None
    reason: RejectReason | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None


class Broker:
    """Admission control; the scheduler tells it how many jobs each tenant has waiting."""

    def __init__(self, tenants: list[Tenant], max_width: int, seed: int):
        self._tenant_by_key = {t.api_key: i for i, t in enumerate(tenants)}
        self._tenants = tenants
        self._max_width = max_width
        self._ids = random.Random(seed)
        self._malformed: dict[str, str | None] = {}
        self._shots_today = [0] * len(tenants)
        self._day = 0

    def mint_provenance_id(self) -> str:
        """128 random bits as 32 hex digits: a valid W3C trace ID, so a job's trace can carry it."""
        return f"{self._ids.getrandbits(128):032x}"

    def submit(self, api_key: str, circuit: Circuit, shots: int, queued: int, now: float) -> Admission:
        """Admit or reject; ``queued`` is how many of this tenant's jobs wait already."""
        pid = self.mint_provenance_id()
        tenant = self._tenant_by_key.get(api_key)
        if tenant is None:
            return Admission(pid, None, RejectReason.BAD_KEY, "API key matches no tenant")
        if circuit.hash not in self._malformed:
            self._malformed[circuit.hash] = malformed_reason(circuit.circuit)
        problem = self._malformed[circuit.hash]
        if problem is None and not 1 <= shots <= MAX_SHOTS:
            problem = f"shots must be between 1 and {MAX_SHOTS}, got {shots}"
        if problem is not None:
            return Admission(pid, tenant, RejectReason.MALFORMED_CIRCUIT, problem)
        if circuit.num_qubits > self._max_width:
            return Admission(
                pid,
                tenant,
                RejectReason.TOO_WIDE,
                f"circuit has {circuit.num_qubits} qubits, the widest backend has {self._max_width}",
            )
        limits = self._tenants[tenant].limits
        if queued >= limits.max_queued_jobs:
            return Admission(pid, tenant, RejectReason.OVER_QUOTA, f"{queued} jobs already queued, limit {limits.max_queued_jobs}")
        day = int(now // 86400)
        if day != self._day:
            self._day, self._shots_today = day, [0] * len(self._tenants)
        if self._shots_today[tenant] + shots > limits.max_shots_per_day:
            return Admission(
                pid, tenant, RejectReason.OVER_QUOTA, f"daily shot limit {limits.max_shots_per_day} would be exceeded"
            )
        self._shots_today[tenant] += shots
        return Admission(pid, tenant)

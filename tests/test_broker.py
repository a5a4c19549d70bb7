"""Every bad submission is refused by the broker with its reason and a detail a tenant can act on.

Bad input tried: an unknown API key, a revoked key, a circuit with unbound parameters, one that measures
nothing, one with no qubits, zero and too many shots, a circuit wider than every backend, a tenant over
its queued-jobs limit, and one over its daily shot limit.
"""

import pytest
from qiskit import QuantumCircuit

from contract.semconv import RejectReason
from emulator.broker import MAX_SHOTS, Broker
from emulator.circuits import Circuit, build, malformed_example
from emulator.scenario import CircuitFamily, Tenant

TENANT = Tenant.model_validate(
    {
        "id": "lab",
        "namespace": "lab",
        "api_key": "lab-key-0123456789abcdef",
        "quota_share": 0.5,
        "limits": {"max_queued_jobs": 3, "max_shots_per_day": 10_000},
        "workloads": [{"name": "w", "arrival": {"rate_per_hour": 1}, "circuits": {"family": "ghz", "qubits": [2]}}],
    }
)
KEY = TENANT.api_key
GHZ = build(CircuitFamily.GHZ, 3)


@pytest.fixture
def broker() -> Broker:
    return Broker([TENANT], max_width=7, seed=5)


def _reject(broker: Broker, *, key=KEY, circuit=GHZ, shots=100, queued=0, now=0.0):
    admission = broker.submit(key, circuit, shots, queued, now)
    assert not admission.accepted
    assert len(admission.provenance_id) == 32
    return admission


def test_accepts_a_good_submission(broker):
    admission = broker.submit(KEY, GHZ, 1000, 0, 0.0)
    assert admission.accepted and admission.tenant == 0 and admission.reason is None
    assert int(admission.provenance_id, 16) != 0


def test_provenance_ids_are_unique_and_seeded():
    a = [Broker([TENANT], 7, seed=5).mint_provenance_id() for _ in range(2)]
    assert a[0] == a[1]
    broker = Broker([TENANT], 7, seed=5)
    ids = {broker.mint_provenance_id() for _ in range(10_000)}
    assert len(ids) == 10_000


@pytest.mark.parametrize("key", ["", "lab-key-0123456789abcdeX", f"revoked-{KEY}"])
def test_bad_key(broker, key):
    admission = _reject(broker, key=key)
    assert admission.reason is RejectReason.BAD_KEY and admission.tenant is None
    assert admission.detail == "API key matches no tenant"


def test_unbound_parameters(broker):
    admission = _reject(broker, circuit=malformed_example(3))
    assert admission.reason is RejectReason.MALFORMED_CIRCUIT
    assert admission.detail == "circuit has unbound parameters: theta"


def test_no_measurement(broker):
    qc = QuantumCircuit(2)
    qc.h(0)
    admission = _reject(broker, circuit=Circuit("custom", qc))
    assert (admission.reason, admission.detail) == (RejectReason.MALFORMED_CIRCUIT, "circuit measures no qubit")


def test_no_qubits(broker):
    admission = _reject(broker, circuit=Circuit("custom", QuantumCircuit()))
    assert (admission.reason, admission.detail) == (RejectReason.MALFORMED_CIRCUIT, "circuit has no qubits")


def test_mid_circuit_reset(broker):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.reset(0)
    qc.measure_all()
    admission = _reject(broker, circuit=Circuit("custom", qc))
    assert admission.detail == "instruction 'reset' (mid-circuit control) is not supported"


@pytest.mark.parametrize("shots", [0, -5, MAX_SHOTS + 1])
def test_shots_out_of_range(broker, shots):
    admission = _reject(broker, shots=shots)
    assert admission.reason is RejectReason.MALFORMED_CIRCUIT
    assert admission.detail == f"shots must be between 1 and {MAX_SHOTS}, got {shots}"


def test_too_wide(broker):
    admission = _reject(broker, circuit=build(CircuitFamily.GHZ, 9))
    assert admission.reason is RejectReason.TOO_WIDE
    assert admission.detail == "circuit has 9 qubits, the widest backend has 7"


def test_over_queued_limit(broker):
    admission = _reject(broker, queued=3)
    assert admission.reason is RejectReason.OVER_QUOTA
    assert admission.detail == "3 jobs already queued, limit 3"


def test_over_daily_shots_then_next_day(broker):
    assert broker.submit(KEY, GHZ, 9_000, 0, 100.0).accepted
    admission = _reject(broker, shots=1_001, now=200.0)
    assert (admission.reason, admission.detail) == (RejectReason.OVER_QUOTA, "daily shot limit 10000 would be exceeded")
    assert broker.submit(KEY, GHZ, 1_000, 0, 300.0).accepted, "what was accepted before still counts, nothing lost"
    assert broker.submit(KEY, GHZ, 9_000, 0, 86_400.0 + 1).accepted, "the limit resets at the next day"

"""Circuit families tenants submit, their content hash and the broker's well-formedness check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import ControlFlowOp, Gate, Parameter
from qiskit.circuit.library import QFTGate
from qiskit.quantum_info import Statevector

from emulator.scenario import CircuitFamily

_ALLOWED_NON_UNITARY = {"measure", "barrier"}


@dataclass(frozen=True)
class Circuit:
    """A submitted circuit; identity is its content hash, so repeated runs share it."""

    family: str
    circuit: QuantumCircuit

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(qasm3.dumps(self.circuit).encode()).hexdigest()[:16]

    @property
    def num_qubits(self) -> int:
        return self.circuit.num_qubits

    @cached_property
    def ideal_probabilities(self) -> np.ndarray:
        """Noise-free outcome distribution, index = measured bitstring (clbit 0 least significant)."""
        unitary_part = self.circuit.remove_final_measurements(inplace=False)
        return Statevector(unitary_part).probabilities()


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=f"ghz_{n}")
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def qft(n: int) -> QuantumCircuit:
    """Inverse QFT of a Fourier basis state: ideally one bitstring, so noise shows as spread."""
    x = int("10" * n, 2) >> n  # alternating bits, never trivially all-zero
    qc = QuantumCircuit(n, name=f"qft_{n}")
    qc.h(range(n))
    for j in range(n):
        qc.p(2 * np.pi * x * 2**j / 2**n, j)
    qc.append(QFTGate(n).inverse(), range(n))
    qc.measure_all()
    return qc.decompose(reps=3)


def random_layered(n: int, layers: int, seed: int) -> QuantumCircuit:
    """Brickwork of random single-qubit rotations and CX pairs, like a quantum-volume style workload."""
    rng = np.random.default_rng([n, layers, seed])
    qc = QuantumCircuit(n, name=f"rand_{n}_{layers}_{seed}")
    for layer in range(layers):
        for q in range(n):
            qc.rx(float(rng.uniform(0, np.pi)), q)
            qc.rz(float(rng.uniform(0, 2 * np.pi)), q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def build(family: CircuitFamily, qubits: int, layers: int = 4, variant: int = 0) -> Circuit:
    match family:
        case CircuitFamily.GHZ:
            qc = ghz(qubits)
        case CircuitFamily.QFT:
            qc = qft(qubits)
        case CircuitFamily.RANDOM_LAYERED:
            qc = random_layered(qubits, layers, variant)
    return Circuit(family=family.value, circuit=qc)


def malformed_reason(qc: QuantumCircuit) -> str | None:
    """Why the broker cannot run this circuit, or None when it is well formed."""
    if qc.num_qubits == 0:
        return "circuit has no qubits"
    if qc.parameters:
        names = ", ".join(sorted(p.name for p in qc.parameters))
        return f"circuit has unbound parameters: {names}"
    measured = {qc.find_bit(q).index for inst in qc.data if inst.operation.name == "measure" for q in inst.qubits}
    if not measured:
        return "circuit measures no qubit"
    for inst in qc.data:
        op = inst.operation
        if op.name in _ALLOWED_NON_UNITARY:
            continue
        if op.name in {"reset", "initialize"} or isinstance(op, ControlFlowOp):
            return f"instruction {op.name!r} (mid-circuit control) is not supported"
        if not isinstance(op, Gate):
            return f"instruction {op.name!r} is not supported"
    return None


def malformed_example(n: int) -> Circuit:
    """What a buggy client sends: a parametrised circuit whose parameters were never bound."""
    theta = Parameter("theta")
    qc = QuantumCircuit(n, name=f"unbound_{n}")
    qc.ry(theta, range(n))
    qc.measure_all()
    return Circuit(family="malformed", circuit=qc)

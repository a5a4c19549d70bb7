"""Real execution: the noisy output distribution of a transpiled circuit under a calibration state.

The distribution is computed exactly with qiskit-aer's density-matrix method once per
(circuit, backend, calibration state) and cached; each job then draws its shots from it. The
noise model follows the usual device model: depolarizing gate error plus thermal relaxation
(T1, T2) for the gate's duration, and readout error as a per-qubit confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.exceptions import QiskitError
from qiskit_aer import AerSimulator
from qiskit_aer.noise import (
    NoiseModel,
    QuantumError,
    depolarizing_error,
    thermal_relaxation_error,
)

from emulator.circuits import Circuit
from emulator.devices import DeviceSnapshot

TRANSPILER_SEED = 11


def drift_scale(step: float, bucket: int) -> float:
    """Error rates are multiplied, coherence times divided, by this factor in drift state ``bucket``."""
    return (1.0 + step) ** bucket


@dataclass(frozen=True)
class CompiledCircuit:
    """A circuit transpiled for one device and cut down to the physical qubits it touches."""

    circuit_hash: str
    device: str
    compact: QuantumCircuit
    physical: tuple[int, ...]
    measured: tuple[int, ...]
    gates_1q: np.ndarray
    gates_2q: np.ndarray
    duration: float
    activity: float
    ideal: np.ndarray


def compile_circuit(circuit: Circuit, snapshot: DeviceSnapshot) -> CompiledCircuit:
    tc = transpile(circuit.circuit, target=snapshot.target, optimization_level=1, seed_transpiler=TRANSPILER_SEED)
    measured: dict[int, int] = {}
    for inst in tc.data:
        if inst.operation.name == "measure":
            measured[tc.find_bit(inst.clbits[0]).index] = tc.find_bit(inst.qubits[0]).index
    body = tc.remove_final_measurements(inplace=False)
    gates = [
        (inst.operation, tuple(body.find_bit(q).index for q in inst.qubits))
        for inst in body.data
        if inst.operation.name not in {"barrier", "delay"}
    ]
    active = tuple(sorted({q for _, qargs in gates for q in qargs} | set(measured.values())))
    index = {q: i for i, q in enumerate(active)}
    compact = QuantumCircuit(len(active))
    gates_1q = np.zeros(snapshot.num_qubits)
    gates_2q = np.zeros(len(snapshot.edges))
    edge_index = {c: i for i, c in enumerate(zip(snapshot.edge_gates, snapshot.edges, strict=True))}
    for op, qargs in gates:
        compact.append(op, [index[q] for q in qargs])
        if op.name in snapshot.one_qubit_gates:
            gates_1q[qargs[0]] += 1
        elif len(qargs) == 2:
            gates_2q[edge_index[op.name, qargs]] += 1
    compact.save_probabilities([index[measured[c]] for c in range(circuit.circuit.num_clbits)])
    depth = max(body.depth(), 1)
    return CompiledCircuit(
        circuit_hash=circuit.hash,
        device=snapshot.device,
        compact=compact,
        physical=active,
        measured=tuple(measured[c] for c in range(circuit.circuit.num_clbits)),
        gates_1q=gates_1q,
        gates_2q=gates_2q,
        duration=_duration(tc, body, snapshot),
        activity=float(gates_2q.sum()) / depth,
        ideal=circuit.ideal_probabilities,
    )


def _duration(transpiled: QuantumCircuit, body: QuantumCircuit, snapshot: DeviceSnapshot) -> float:
    """The circuit's duration on the device's critical path; where the snapshot lacks an instruction's
    duration (some older devices publish none for measurement), every layer counts as a 2q gate."""
    try:
        return float(transpiled.estimate_duration(snapshot.target, unit="s"))
    except QiskitError:
        return float((body.depth() + 1) * np.median(snapshot.duration_2q))


def predicted_fidelity(compiled: CompiledCircuit, snapshot: DeviceSnapshot, factor: float) -> float:
    """Fidelity a calibration-aware router expects from reported calibration (error factor ``factor``).

    The estimated success probability (product of gate, readout and decay survival) is read as the
    weight of the ideal distribution in a globally depolarized one, whose Hellinger fidelity to the
    ideal is then exact: cheap enough to rank every backend for every job.
    """
    e1 = np.clip(snapshot.error_1q * factor, 0.0, 0.999)
    e2 = np.clip(snapshot.error_2q * factor, 0.0, 0.999)
    measured = list(compiled.measured)
    ro = np.clip(snapshot.readout_error[measured] * factor, 0.0, 0.999)
    decay = compiled.duration * factor * np.sum(1.0 / snapshot.t1[measured])
    esp = np.exp(compiled.gates_1q @ np.log1p(-e1) + compiled.gates_2q @ np.log1p(-e2) + np.log1p(-ro).sum() - decay)
    depolarized = esp * compiled.ideal + (1.0 - esp) / compiled.ideal.size
    return hellinger_fidelity(compiled.ideal, depolarized)


def hellinger_fidelity(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(np.sqrt(p * q)) ** 2)


@dataclass
class DistributionCache:
    """Noisy outcome distributions keyed by (circuit, device, drift bucket).

    Distributions are computed in batches sharing one noise model per (device, drift bucket),
    over the union of the qubits the batch touches: one Aer call per batch instead of per circuit.
    """

    step: float
    _distributions: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    _errors: dict[tuple, QuantumError] = field(default_factory=dict)
    _simulator: AerSimulator = field(
        default_factory=lambda: AerSimulator(method="density_matrix", max_parallel_threads=1)
    )

    def distributions(self, wanted: list[tuple[CompiledCircuit, DeviceSnapshot, int]]) -> list[np.ndarray]:
        batches: dict[tuple[str, int], dict[str, CompiledCircuit]] = {}
        snapshots: dict[str, DeviceSnapshot] = {}
        for compiled, snapshot, bucket in wanted:
            if (compiled.circuit_hash, compiled.device, bucket) not in self._distributions:
                batches.setdefault((snapshot.device, bucket), {})[compiled.circuit_hash] = compiled
                snapshots[snapshot.device] = snapshot
        for (device, bucket), batch in batches.items():
            self._compute(list(batch.values()), snapshots[device], bucket)
        return [self._distributions[(c.circuit_hash, c.device, bucket)] for c, _, bucket in wanted]

    def _compute(self, batch: list[CompiledCircuit], snapshot: DeviceSnapshot, bucket: int) -> None:
        scale = drift_scale(self.step, bucket)
        union = sorted({q for compiled in batch for q in compiled.physical})
        index = {q: i for i, q in enumerate(union)}
        noise = NoiseModel(basis_gates=sorted({*snapshot.one_qubit_gates, *snapshot.virtual_gates,
                                               *snapshot.two_qubit_gates}))
        for q in union:
            for gate in snapshot.one_qubit_gates:
                noise.add_quantum_error(self._error_1q(snapshot, bucket, scale, q), gate, [index[q]])
        for e, (a, b) in enumerate(snapshot.edges):
            if a in index and b in index:
                noise.add_quantum_error(
                    self._error_2q(snapshot, bucket, scale, e), snapshot.edge_gates[e], [index[a], index[b]]
                )
        circuits = []
        for compiled in batch:
            # Aer simulates only the qubits a circuit touches, so the shared width costs nothing
            circuit = QuantumCircuit(len(union))
            circuit.compose(compiled.compact, qubits=[index[q] for q in compiled.physical], inplace=True)
            circuits.append(circuit)
        result = self._simulator.run(circuits, noise_model=noise).result()
        for i, compiled in enumerate(batch):
            probabilities = np.asarray(result.data(i)["probabilities"])
            readout = np.clip(snapshot.readout_error[list(compiled.measured)] * scale, 0.0, 0.5)
            self._distributions[(compiled.circuit_hash, compiled.device, bucket)] = _apply_readout(probabilities, readout)

    def _relaxation(self, snapshot: DeviceSnapshot, scale: float, q: int, duration: float):
        return thermal_relaxation_error(snapshot.t1[q] / scale, snapshot.t2[q] / scale, duration)

    def _error_1q(self, snapshot: DeviceSnapshot, bucket: int, scale: float, q: int) -> QuantumError:
        key = (snapshot.device, bucket, "1q", q)
        if key not in self._errors:
            p = min(snapshot.error_1q[q] * scale * 2.0, 1.0)
            relax = self._relaxation(snapshot, scale, q, snapshot.duration_1q[q])
            self._errors[key] = depolarizing_error(p, 1).compose(relax)
        return self._errors[key]

    def _error_2q(self, snapshot: DeviceSnapshot, bucket: int, scale: float, e: int) -> QuantumError:
        key = (snapshot.device, bucket, "2q", e)
        if key not in self._errors:
            a, b = snapshot.edges[e]
            p = min(snapshot.error_2q[e] * scale * 4.0 / 3.0, 1.0)
            duration = snapshot.duration_2q[e]
            relax = self._relaxation(snapshot, scale, a, duration).expand(self._relaxation(snapshot, scale, b, duration))
            self._errors[key] = depolarizing_error(p, 2).compose(relax)
        return self._errors[key]


def _apply_readout(probabilities: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Push the distribution through each measured qubit's symmetric confusion matrix."""
    n = errors.size
    tensor = probabilities.reshape((2,) * n)
    for qubit, e in enumerate(errors):
        confusion = np.array([[1.0 - e, e], [e, 1.0 - e]])
        axis = n - 1 - qubit
        tensor = np.moveaxis(np.tensordot(confusion, tensor, axes=([1], [axis])), 0, axis)
    out = tensor.reshape(-1)
    return out / out.sum()

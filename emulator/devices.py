"""Reference calibration of each backend, read from a real device snapshot.

The fake backends of qiskit-ibm-runtime carry the T1, T2, gate and readout errors of real IBM
devices on a given day; they are the emulator's "as installed" reference, from which drift departs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import qiskit_ibm_runtime.fake_provider as fake_provider
from qiskit.transpiler import Target

TWO_QUBIT_GATES = ("ecr", "cz", "cx")
PULSED_ONE_QUBIT_GATES = ("sx", "x", "u2", "u3")
"""Single-qubit gates that are physical pulses (and so carry error): today's ``sx``/``x`` basis, or the
``u1``/``u2``/``u3`` basis of IBM's older devices. The first one a device has is its reference 1q gate."""
VIRTUAL_GATES = ("rz", "u1")
"""Frame changes: no pulse, no error."""


class UnsupportedDevice(ValueError):
    """A fake device the emulator cannot model; the message says why."""


@dataclass(frozen=True)
class DeviceSnapshot:
    """Calibration values of one device; arrays are indexed by physical qubit or by edge."""

    device: str
    num_qubits: int
    one_qubit_gates: tuple[str, ...]
    virtual_gates: tuple[str, ...]
    two_qubit_gates: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    edge_gates: tuple[str, ...]
    """The 2q gate of each entry of ``edges`` (a device may couple some pairs by ecr and others by cx)."""
    t1: np.ndarray
    t2: np.ndarray
    error_1q: np.ndarray
    error_2q: np.ndarray
    readout_error: np.ndarray
    duration_1q: np.ndarray
    duration_2q: np.ndarray
    target: Target

    def medians(self) -> dict[str, float]:
        return {
            "t1": float(np.median(self.t1)),
            "t2": float(np.median(self.t2)),
            "error_1q": float(np.median(self.error_1q)),
            "error_2q": float(np.median(self.error_2q)),
            "readout_error": float(np.median(self.readout_error)),
        }


def _filled(values: list[float | None]) -> np.ndarray:
    """Replace the snapshot's missing entries by the device median, as IBM's own tooling does."""
    known = [v for v in values if v is not None and np.isfinite(v)]
    fill = float(np.median(known)) if known else 0.0
    return np.array([fill if v is None or not np.isfinite(v) else v for v in values], dtype=float)


def fake_devices() -> list[str]:
    """Every fake backend qiskit-ibm-runtime ships (the V2 ones: the emulator reads their ``Target``)."""
    return sorted(n for n in dir(fake_provider) if n.startswith("Fake") and not n.startswith("FakeProvider"))


def _target(name: str) -> Target:
    if name not in fake_devices():
        raise UnsupportedDevice(f"unknown device {name!r}; qiskit-ibm-runtime ships: {', '.join(fake_devices())}")
    return getattr(fake_provider, name)().target


def _gates(name: str, target: Target) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The device's pulsed 1q gates and its 2q gates, or why the emulator cannot run it."""
    operations = set(target.operation_names)
    one_q = tuple(g for g in PULSED_ONE_QUBIT_GATES if g in operations)
    two_q = tuple(sorted(g for g in operations if any(q is not None and len(q) == 2 for q in target[g] or ())))
    if target.num_qubits < 2 or not set(two_q) & set(TWO_QUBIT_GATES):
        raise UnsupportedDevice(f"device {name!r} has {target.num_qubits} qubit(s) and no two-qubit gate among "
                                f"{', '.join(TWO_QUBIT_GATES)}: multi-qubit circuits cannot run on it")
    if not one_q:
        raise UnsupportedDevice(f"device {name!r} has no single-qubit pulse gate among {', '.join(PULSED_ONE_QUBIT_GATES)}")
    if "measure" not in operations:
        raise UnsupportedDevice(f"device {name!r} cannot measure")
    one_way = [q for q in target["cx"] or () if q is not None and q[::-1] not in target["cx"]] \
        if "cx" in operations and len(two_q) > 1 else []
    if one_way:
        others = ", ".join(g for g in two_q if g != "cx")
        raise UnsupportedDevice(
            f"device {name!r} drives {len(one_way)} coupler(s) with cx in one direction only beside {others} "
            "couplers, and Qiskit's transpiler has no rule to reverse cx in such a target: circuits cannot be routed "
            "on it")
    return one_q, two_q


@cache
def check_device(name: str) -> None:
    """Raise UnsupportedDevice unless the emulator can model ``name``: what scenario validation asks."""
    _gates(name, _target(name))


@cache
def load_device(name: str) -> DeviceSnapshot:
    target = _target(name)
    one_q, two_q = _gates(name, target)
    n = target.num_qubits
    couplings = sorted((qargs, gate) for gate in two_q for qargs in target[gate] if qargs is not None)
    props = target.qubit_properties or [None] * n
    t1 = _filled([p.t1 if p is not None else None for p in props])
    t2 = _filled([p.t2 if p is not None else None for p in props])
    reference = [target[one_q[0]].get((q,)) for q in range(n)]
    meas = [target["measure"].get((q,)) for q in range(n)]
    two = [target[gate][qargs] for qargs, gate in couplings]
    return DeviceSnapshot(
        device=name,
        num_qubits=n,
        one_qubit_gates=one_q,
        virtual_gates=tuple(g for g in VIRTUAL_GATES if g in target.operation_names),
        two_qubit_gates=two_q,
        edges=tuple(qargs for qargs, _ in couplings),
        edge_gates=tuple(gate for _, gate in couplings),
        t1=t1,
        t2=np.minimum(t2, 2 * t1),
        error_1q=_filled([p.error if p else None for p in reference]),
        error_2q=_filled([p.error if p else None for p in two]),
        readout_error=_filled([p.error if p else None for p in meas]),
        duration_1q=_filled([p.duration if p else None for p in reference]),
        duration_2q=_filled([p.duration if p else None for p in two]),
        target=target,
    )

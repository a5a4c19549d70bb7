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
ONE_QUBIT_GATES = ("sx", "x")


@dataclass(frozen=True)
class DeviceSnapshot:
    """Calibration values of one device; arrays are indexed by physical qubit or by edge."""

    device: str
    num_qubits: int
    two_qubit_gate: str
    edges: tuple[tuple[int, int], ...]
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


@cache
def load_device(name: str) -> DeviceSnapshot:
    cls = getattr(fake_provider, name, None)
    if cls is None or not name.startswith("Fake"):
        known = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and n != "FakeProviderForBackendV2")
        raise ValueError(f"unknown device {name!r}; qiskit-ibm-runtime ships: {', '.join(known)}")
    backend = cls()
    target = backend.target
    n = backend.num_qubits
    two_q = next((g for g in TWO_QUBIT_GATES if g in target.operation_names), None)
    if two_q is None:
        raise ValueError(f"device {name!r} has no two-qubit gate among {TWO_QUBIT_GATES}")
    edges = tuple(sorted(qargs for qargs in target[two_q] if qargs is not None))
    props = target.qubit_properties or [None] * n
    t1 = _filled([p.t1 if p is not None else None for p in props])
    t2 = _filled([p.t2 if p is not None else None for p in props])
    sx = [target["sx"].get((q,)) for q in range(n)]
    meas = [target["measure"].get((q,)) for q in range(n)]
    two = [target[two_q][e] for e in edges]
    return DeviceSnapshot(
        device=name,
        num_qubits=n,
        two_qubit_gate=two_q,
        edges=edges,
        t1=t1,
        t2=np.minimum(t2, 2 * t1),
        error_1q=_filled([p.error if p else None for p in sx]),
        error_2q=_filled([p.error if p else None for p in two]),
        readout_error=_filled([p.error if p else None for p in meas]),
        duration_1q=_filled([p.duration if p else None for p in sx]),
        duration_2q=_filled([p.duration if p else None for p in two]),
        target=target,
    )

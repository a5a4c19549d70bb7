"""Calibration drift, and the periodic calibration runs that measure it against spec.

Drift is a random walk over discrete states (each a fixed relative change of every error rate),
so that a backend's true noise takes few distinct values and their distributions can be cached.
An injected defect (fault F1) adds a ramp that recalibration cannot tune away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.semconv import CalibrationVerdict
from emulator.devices import DeviceSnapshot
from emulator.scenario import CalibrationDrift, CalibrationPolicy

MIN_BUCKET = -2
RETUNE_JITTER = (-1, 0, 0, 1)


class Drift:
    """The true calibration state of one backend, advanced lazily on a fixed tick grid."""

    def __init__(self, policy: CalibrationPolicy, defects: list[CalibrationDrift], rng: np.random.Generator):
        self._tick = policy.drift.tick
        self._p_up = min(1.0, policy.drift.up_per_hour * self._tick / 3600.0)
        self._p_down = min(1.0, policy.drift.down_per_hour * self._tick / 3600.0)
        self._retune_failure = policy.retune_failure_probability
        self._defects = defects
        self._rng = rng
        self._ticks_done = 0
        self._walk = 0

    def bucket(self, now: float) -> int:
        """True drift state at ``now``: the tuned walk plus any active defect's ramp."""
        target = int(now // self._tick)
        if target > self._ticks_done:
            steps = self._rng.uniform(size=target - self._ticks_done)
            for u in steps:
                if u < self._p_up:
                    self._walk += 1
                elif u > 1.0 - self._p_down and self._walk > MIN_BUCKET:
                    self._walk -= 1
            self._ticks_done = target
        return self._walk + self.defect(now)

    def defect(self, now: float) -> int:
        return sum(
            int((now - d.start) / 3600.0 * d.steps_per_hour) for d in self._defects if d.start <= now < d.end
        )

    def retune(self, now: float, reliable: bool = False) -> None:
        """A calibration run re-tunes the gates: the walk returns near zero, rarely badly (never when
        ``reliable``: the state the run starts from is steady operation after a good calibration)."""
        self.bucket(now)
        failed = self._rng.uniform() < self._retune_failure
        if failed and not reliable:
            self._walk = int(self._rng.integers(8, 14))
        else:
            self._walk = RETUNE_JITTER[int(self._rng.integers(0, len(RETUNE_JITTER)))]


@dataclass(frozen=True)
class CalibrationMeasurement:
    """What a calibration run reports: device medians and the error factor over the reference."""

    t1: float
    t2: float
    error_1q: float
    error_2q: float
    readout_error: float
    factor: float
    verdict: CalibrationVerdict
    reason: str


def measure(
    snapshot: DeviceSnapshot, scale: float, policy: CalibrationPolicy, rng: np.random.Generator
) -> CalibrationMeasurement:
    """Measure the device at true error scale ``scale``, with measurement noise, and judge it."""
    ref = snapshot.medians()
    noise = rng.lognormal(0.0, policy.measurement_noise, 5)
    measured = {
        "t1": ref["t1"] / scale * noise[0],
        "t2": ref["t2"] / scale * noise[1],
        "error_1q": ref["error_1q"] * scale * noise[2],
        "error_2q": ref["error_2q"] * scale * noise[3],
        "readout_error": ref["readout_error"] * scale * noise[4],
    }
    spec = policy.spec
    failures = [
        f"{name} {measured[name]:.3g} > {spec.max_error_factor:g}x reference {ref[name]:.3g}"
        for name in ("error_1q", "error_2q", "readout_error")
        if measured[name] > spec.max_error_factor * ref[name]
    ]
    if measured["t1"] < spec.min_t1_factor * ref["t1"]:
        failures.append(f"t1 {measured['t1']:.3g}s < {spec.min_t1_factor:g}x reference {ref['t1']:.3g}s")
    return CalibrationMeasurement(
        **measured,
        factor=measured["error_2q"] / ref["error_2q"],
        verdict=CalibrationVerdict.FAIL if failures else CalibrationVerdict.PASS,
        reason="; ".join(failures),
    )

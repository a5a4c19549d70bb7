"""Each executed job's measured counts and fidelity, drawn after the run in vectorised batches.

Nothing in the run depends on a job's counts, so they are drawn afterwards: jobs are grouped by
the size of their outcome space, their distributions gathered, crosstalk mixed in as global
depolarizing, and every job's shots drawn with one seeded multinomial call per batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BATCH = 50_000


def measured_fidelity(
    distribution: np.ndarray,
    crosstalk: np.ndarray,
    shots: np.ndarray,
    circuit: np.ndarray,
    distributions: list[np.ndarray],
    ideal: Callable[[int], np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Hellinger fidelity of each job's sampled counts to its circuit's ideal distribution.

    ``distribution`` indexes ``distributions`` (-1: no result, giving NaN); ``ideal`` gives a circuit's
    ideal distribution, asked only for circuits that ran (a malformed one has none).
    """
    out = np.full(distribution.size, np.nan)
    sizes = np.array([d.size for d in distributions], dtype=np.int64)
    executed = np.flatnonzero(distribution >= 0)
    outcome_space = sizes[distribution[executed]] if executed.size else np.array([], dtype=np.int64)
    for size in np.unique(outcome_space):
        group = [i for i, d in enumerate(distributions) if d.size == size]
        table = np.stack([distributions[i] for i in group])
        position = np.full(len(distributions), -1)
        position[group] = np.arange(len(group))
        circuits = np.unique(circuit[executed[outcome_space == size]])
        sqrt_ideal = np.zeros((int(circuits.max()) + 1, size))
        sqrt_ideal[circuits] = np.sqrt(np.stack([ideal(c) for c in circuits]))
        rows = executed[outcome_space == size]
        for chunk in np.array_split(rows, max(1, -(-rows.size // BATCH))):
            weight = crosstalk[chunk, None]
            p = (1.0 - weight) * table[position[distribution[chunk]]] + weight / size
            p /= p.sum(axis=1, keepdims=True)
            counts = rng.multinomial(shots[chunk], p)
            overlap = np.sqrt(counts / shots[chunk, None]) * sqrt_ideal[circuit[chunk]]
            out[chunk] = overlap.sum(axis=1) ** 2
    return out

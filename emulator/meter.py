"""Metering: the meter samples backend use on a fixed clock, as usage meters do.

A job is billed one granularity for every sampling instant inside its execution, so on average
billing is exact but a job shorter than the granularity is billed nothing or one whole sample:
the under- and over-billing of short jobs that billing reconciliation (SLI M6) has to find.
"""

from __future__ import annotations

import math

from emulator.scenario import BillingDiscrepancy


def sampled_seconds(start: float, end: float, granularity: float) -> float:
    """Seconds billed for [start, end) by a meter that samples at multiples of ``granularity``."""
    return (math.ceil(end / granularity) - math.ceil(start / granularity)) * granularity


def billing_factor(discrepancies: list[BillingDiscrepancy], tenant_id: str, now: float) -> float:
    """The fault-injected multiplier on a meter entry closed at ``now`` (1 when none applies)."""
    factor = 1.0
    for d in discrepancies:
        if d.tenant == tenant_id and d.start <= now < d.end:
            factor *= d.factor
    return factor

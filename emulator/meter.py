"""Metering: the emulator's meter samples backend use on a fixed clock, as usage meters do, and declares so.

A job is billed one granularity for every sampling instant inside its execution, so on average
billing is exact but a job shorter than the granularity is billed nothing or one whole sample. The meter
is ``contract.billing.Meter`` (sampled), declared on every meter span, so SLI M6 judges the bill against
what this meter owes and finds only the injected billing faults.
"""

from __future__ import annotations

from datetime import timedelta

from contract.billing import BillingTerms, Meter, MeterKind, PriceTable, Reservation
from emulator.scenario import BillingDiscrepancy, Scenario


def declared_meter(scenario: Scenario) -> Meter:
    return Meter(kind=MeterKind.SAMPLED, granularity_seconds=scenario.metering.granularity)


def billing_terms(scenario: Scenario) -> BillingTerms:
    """The scenario's billing terms: its meter, its backends' prices and its tenants' reservations."""
    at = lambda offset: scenario.start + timedelta(seconds=offset)  # noqa: E731
    return BillingTerms(
        meter=declared_meter(scenario),
        prices=PriceTable(per_second={b.name: b.price_per_second for b in scenario.backends},
                          reservation_per_second=scenario.metering.reservation_price_per_second),
        reservations=[Reservation(tenant=t.id, backend=r.backend, start=at(r.start), end=at(r.end))
                      for t in scenario.tenants for r in t.reservations],
    )


def billing_factor(discrepancies: list[BillingDiscrepancy], tenant_id: str, now: float) -> float:
    """The fault-injected multiplier on a meter entry closed at ``now`` (1 when none applies)."""
    factor = 1.0
    for d in discrepancies:
        if d.tenant == tenant_id and d.start <= now < d.end:
            factor *= d.factor
    return factor

"""The meter is part of the contract: M6 and the billing-delta signal judge a bill against the meter the broker
declared, on a broker that is not the emulator (tests/independent_broker.py) and on the emulator's own runs."""

from datetime import UTC, datetime

import polars as pl
import pytest

from collector.correlate import correlate
from contract.billing import (
    BillingTermsError,
    Meter,
    MeterKind,
    ReservedJobs,
    load_billing_terms,
    owed_seconds,
)
from contract.tables import CALIBRATION_SCHEMA, read_jobs
from slo.analysis import detect
from slo.catalogue import SliId
from slo.shipped import shipped_specs
from slo.sli import Tables, sli_table
from slo.spec_files import load_all

from .independent_broker import BrokerTenant, export, jobs_between, serving_collector

EXACT = BrokerTenant("exact-co")
SAMPLED = BrokerTenant("sampled-co", bill="sampled", declare_sampled=True)
OVER = BrokerTenant("over-co", over_factor=1.3)
START_NS = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def broker_store(tmp_path_factory):
    data = tmp_path_factory.mktemp("independent-broker")
    with serving_collector(data) as endpoint:
        export(endpoint, jobs_between([EXACT, SAMPLED, OVER], START_NS, 80, ("alpha", "beta")))
    correlate(data / "store")
    return data / "store"


def _m6(tables: Tables, as_of: datetime) -> dict[str, tuple[int, int]]:
    spec = next(s for s in load_all([shipped_specs()]) if s.sli is SliId.M6)
    table = sli_table(spec, tables, as_of)
    return {row["group"]: (row["good"], row["total"]) for row in table.iter_rows(named=True)}


def test_declared_meter_judges_the_bill_exact_sampled_and_overbilled(broker_store):
    jobs = read_jobs(broker_store)
    declared = jobs.group_by("tenant").agg(pl.col("meter").drop_nulls().unique()).collect()
    assert dict(declared.iter_rows()) == {"exact-co": [], "over-co": [], "sampled-co": ["sampled"]}
    tables = Tables(jobs, pl.LazyFrame(schema=CALIBRATION_SCHEMA))
    as_of = datetime(2026, 3, 3, tzinfo=UTC)
    assert _m6(tables, as_of) == {"exact-co": (80, 80), "sampled-co": (80, 80), "over-co": (0, 80)}
    specs = load_all([shipped_specs()])
    billing = detect(specs, tables, as_of).signals.filter(pl.col("signal") == "billing_delta")
    assert billing["tenants"].to_list() == [["over-co"]], "only real over-billing raises the billing signal"


def test_each_meter_owes_what_its_declaration_says():
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    frame = pl.DataFrame({
        "meter": ["exact", "rounded", "sampled", "sampled", None, "exact"],
        "meter_granularity_seconds": [None, 10.0, 5.0, 5.0, None, None],
        "meter_minimum_seconds": [None, None, None, None, None, 60.0],
        "meter_reserved_jobs": [None, None, None, "to_reservation", None, None],
        "reserved": [False, False, False, True, False, False],
        "start": [t0 + 3.0] * 6, "end": [t0 + 15.5] * 6,
    }).with_columns(
        execute_start=pl.from_epoch((pl.col("start") * 1e6).cast(pl.Int64), "us").dt.replace_time_zone("UTC"),
        execute_end=pl.from_epoch((pl.col("end") * 1e6).cast(pl.Int64), "us").dt.replace_time_zone("UTC"),
    )
    owed = frame.select(owed_seconds()).to_series().to_list()
    assert owed == [12.5, 20.0, 15.0, 0.0, 12.5, 60.0]
    scalar = [Meter(kind=MeterKind(k or "exact"), granularity_seconds=g or 1.0, minimum_seconds=m or 0.0,
                    reserved_jobs=ReservedJobs(r or "per_job")).owed_seconds(t0 + 3.0, t0 + 15.5, res)
              for k, g, m, r, res in frame.select("meter", "meter_granularity_seconds", "meter_minimum_seconds",
                                                  "meter_reserved_jobs", "reserved").iter_rows()]
    assert scalar == owed, "the emulator's meter and the analysis owe the same"


def test_bad_billing_terms_name_the_file_and_field(tmp_path):
    bad = tmp_path / "terms.yaml"
    bad.write_text("meter: {kind: hourly}\nprices: {per_shot: -1}\n")
    with pytest.raises(BillingTermsError) as raised:
        load_billing_terms(bad)
    assert str(bad) in str(raised.value) and "meter.kind" in str(raised.value) and "prices.per_shot" in str(raised.value)
    bad.write_text("- a list\n")
    with pytest.raises(BillingTermsError, match="expected a mapping at the top level, got list"):
        load_billing_terms(bad)

"""Where the collector keeps its data unless told otherwise, and what lives inside: the store, the audit trail."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DATA_DIR = Path("runs/collector")
STORE = "store"
AUDIT_LOG = "audit.log"
BILLING_TERMS = "billing-terms.yaml"
"""The broker's billing terms (``contract.billing``): the meter for jobs that declare none, prices, reservations."""

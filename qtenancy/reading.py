"""What several commands read from the user: specs, the correlated store, quotas, ground truth and burn windows;
each failure is said once, with the file and the reason."""

from __future__ import annotations

from pathlib import Path

from contract.data_dir import AUDIT_LOG, DEFAULT_DATA_DIR
from qtenancy.console import fail, os_reason, warn


def specs(paths: list[Path]):
    """The specs in ``paths``, or the shipped ones; a bad spec exits 2 naming its file and field."""
    from slo.shipped import shipped_specs
    from slo.spec_files import load_all
    from slo.specs import SpecError

    try:
        return load_all(paths or [shipped_specs()])
    except SpecError as exc:
        fail(str(exc))


def store_tables(data_dir: Path | None, action: str, tenant: str | None = None):
    """The correlated tables, the read recorded in the data directory's audit trail as the operator's."""
    from common.audit import AuditKeyError, AuditLogDamaged
    from contract.billing import BillingTermsError
    from slo.analysis import operator_tables

    root = data_dir or DEFAULT_DATA_DIR
    try:
        return operator_tables(root, action, tenant)
    except FileNotFoundError as exc:
        fail(str(exc), 1)
    except BillingTermsError as exc:
        fail(str(exc))
    except (OSError, AuditKeyError, AuditLogDamaged) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
        fail(f"cannot record this read in {root / AUDIT_LOG}: {reason}", 1)


def viewer_of(tables, tenant: str | None):
    """The operator, or with ``--tenant`` the operator looking as that tenant; an unknown tenant exits 2 naming
    the known ones."""
    from slo.viewer import OPERATOR, UnknownTenant, Viewer, check_tenant

    if tenant is None:
        return OPERATOR
    try:
        check_tenant(tables.jobs, tenant)
    except UnknownTenant as exc:
        fail(f"--tenant: {exc}")
    return Viewer(tenant)


def terms(data_dir: Path | None):
    """The data directory's billing terms; bad terms exit 2 naming the file and field, and a missing file is said
    (every price is then 0)."""
    from contract.billing import BillingTermsError
    from contract.data_dir import BILLING_TERMS
    from slo.analysis import billing_terms

    directory = data_dir or DEFAULT_DATA_DIR
    if not (directory / BILLING_TERMS).exists():
        warn("no price table:", f"{directory / BILLING_TERMS} does not exist, so every amount is 0 "
                                "(docs/semconv.md, 'The billing terms file', says what it holds)")
    try:
        return billing_terms(directory)
    except BillingTermsError as exc:
        fail(str(exc))


def ground_truth(path: Path | None) -> list[dict] | None:
    """The injected faults of an emulator run, to score incidents against."""
    from contract.ground_truth import GroundTruthError, read_ground_truth

    if path is None:
        return None
    try:
        return read_ground_truth(path).model_dump(mode="json")["faults"]
    except GroundTruthError as exc:
        fail(str(exc))


def quotas_from(path: Path | None) -> dict[str, float]:
    """Tenant quotas from a scenario file or a mapping of tenant to share (raises ValueError naming the file)."""
    from common.yaml_files import load_yaml
    from emulator.scenario import load_scenario

    if path is None:
        return {}
    document = load_yaml(path, "quotas")
    if isinstance(document, dict) and "tenants" in document:
        return {t.id: t.quota_share for t in load_scenario(path).tenants}
    if not isinstance(document, dict) or not all(isinstance(v, (int, float)) for v in document.values()):
        raise ValueError(f"{path}: quotas must be a scenario file or a mapping of tenant to share")
    return {str(k): float(v) for k, v in document.items()}


def burn_windows(period: str, windows: Path | None):
    """The burn windows of ``--period`` or of a ``--windows`` file: the same for rules and for incidents."""
    from common.yaml_files import YamlFileError
    from contract.alert_catalogue import default_burn_windows
    from contract.burn_windows_file import load_burn_windows
    from contract.durations import parse_duration

    try:
        return load_burn_windows(windows) if windows else default_burn_windows(parse_duration(period))
    except (YamlFileError, ValueError) as exc:
        fail(str(exc))

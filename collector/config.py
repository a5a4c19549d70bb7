"""Collector configuration: where data lives, where it listens, who may send and read, and the limits.

Loaded from YAML into typed models; a bad file is refused with its path, the field and the reason.
A collector without tokens (every caller the platform) starts only when told ``insecure`` explicitly:
an empty or forgotten config file never opens the store to everyone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from common.audit import key_path_for
from common.yaml_files import YamlFileError, load_yaml
from contract.data_dir import AUDIT_LOG, DEFAULT_DATA_DIR


class ConfigError(ValueError):
    pass


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(Strict):
    max_request_bytes: int = Field(16 * 1024 * 1024, gt=0, description="413 above this, compressed or not")
    max_pending_bytes: int = Field(256 * 1024 * 1024, gt=0, description="503 while more than this waits for fsync")
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After on 429 and 503")
    tenant_records_per_second: float | None = Field(None, gt=0, description="429 above this rate per tenant token")
    tenant_burst_records: float | None = Field(
        None, gt=0, description="records a tenant may send at once (default: one second of its rate); 413 above")
    header_timeout_seconds: float = Field(
        30.0, gt=0, description="a connection that has not sent a whole request head by then is closed")
    body_timeout_seconds: float = Field(60.0, gt=0, description="408 when a request body takes longer to arrive")
    decode_workers: int = Field(
        4, ge=1, le=64, description="threads that take requests off the event loop: decode and check them (or hand "
                                    "them to the decoding processes) and log them")
    decode_processes: int = Field(
        0, ge=0, le=64, description="processes that decode and check request bodies, so a busy collector uses more "
                                    "than one core (0: the decode threads do it)")


class Tokens(Strict):
    admin: list[SecretStr] = Field([], description="tokens that ingest for the platform and read every tenant")
    tenants: dict[str, SecretStr] = Field({}, description="tenant id -> its token: ingests and reads as that tenant")

    @model_validator(mode="after")
    def _distinct(self) -> Tokens:
        values = [t.get_secret_value() for t in self.admin] + [t.get_secret_value() for t in self.tenants.values()]
        if len(set(values)) != len(values):
            raise ValueError("every token must be distinct")
        if any(len(v) < 16 for v in values):
            raise ValueError("tokens must be at least 16 characters")
        return self


class CollectorConfig(Strict):
    data_dir: Path = DEFAULT_DATA_DIR
    insecure: bool = Field(
        False, description="serve without tokens, every caller the platform: only with this said explicitly")
    audit_key_file: Path | None = Field(
        None, description="HMAC key of the audit trail (default: <data_dir>/audit.log.key, created 0600)")
    host: str = "127.0.0.1"
    http_port: int = Field(4318, ge=0, le=65535)
    grpc_port: int = Field(4317, ge=0, le=65535)
    compact_interval_seconds: float = Field(5.0, gt=0)
    tokens: Tokens = Tokens()
    limits: Limits = Limits()

    def check_serving(self, source: str = "collector config") -> None:
        """Refuse to serve without tokens unless ``insecure`` says so (raises ConfigError)."""
        if not self.insecure and not self.tokens.admin and not self.tokens.tenants:
            raise ConfigError(f"{source}: no tokens, so every caller would be the platform: add tokens.admin (and "
                              "tokens.tenants), or say insecure: true (collector serve --insecure) for a "
                              "single-user collector")

    @property
    def audit_key(self) -> Path:
        return self.audit_key_file or key_path_for(self.data_dir / AUDIT_LOG)


def fingerprint(config: CollectorConfig) -> dict:
    """What the audit trail records of a configuration: a digest of all of it, secrets only as digests."""
    tokens = [hashlib.sha256(t.get_secret_value().encode()).hexdigest() for t in config.tokens.admin]
    tenants = {name: hashlib.sha256(t.get_secret_value().encode()).hexdigest() for name, t in config.tokens.tenants.items()}
    body = {"host": config.host, "limits": config.limits.model_dump(), "admin_tokens": tokens, "tenant_tokens": tenants}
    return {
        "digest": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
        "tenants": sorted(tenants), "admin_tokens": len(tokens), "limits": config.limits.model_dump(),
    }


def load_config(path: Path | None, limits: dict | None = None, **overrides) -> CollectorConfig:
    """The file's configuration with ``overrides`` (options given on the command line) on top, and ``limits`` on
    top of the file's limits."""
    data: dict = {}
    if path is not None:
        try:
            data = load_yaml(path, "collector config")
        except YamlFileError as exc:
            raise ConfigError(str(exc)) from None
        if data is None:
            raise ConfigError(f"{path}: collector config is empty")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: collector config must be a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    chosen = {k: v for k, v in (limits or {}).items() if v is not None}
    if chosen and isinstance(data.get("limits", {}), dict):
        data["limits"] = {**data.get("limits", {}), **chosen}
    try:
        return CollectorConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path or 'collector options'}: invalid collector config: {problems}") from None

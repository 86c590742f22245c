"""Settings of one mock connector process, read from IDS_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["edge", "cloud"]

# The TRUE Connector's published defaults (v1.11, as CLARUS deployed it): documented defaults, not
# secrets, so that client code written for the real connector works against the mock unchanged.
PUBLISHED_API_USER = "admin"
PUBLISHED_API_PASSWORD = "password"  # noqa: S105 - published default of the real connector
PUBLISHED_CONNECTOR_USER = "connector"
PUBLISHED_CONNECTOR_PASSWORD = "password"  # noqa: S105 - published default of the real connector

DEFAULT_CONNECTOR_IDS = {
    "edge": "http://w3id.org/engrd/connector/provider",
    "cloud": "http://w3id.org/engrd/connector/consumer",
}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value.strip() else default


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _env_float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return _env(name, "true" if default else "false").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything one process (one role, two ports) needs to know."""

    role: Role
    bind_host: str
    message_port: int  # edge: IDS endpoint /data; cloud: data app /proxy
    api_port: int  # the self-description API of this side
    api_user: str
    api_password: str
    connector_user: str
    connector_password: str
    lockout_attempts: int
    lockout_seconds: float
    max_payload_bytes: int
    data_dir: Path
    cert_dir: Path
    cert_hostnames: tuple[str, ...]
    public_host: str
    connector_id: str
    seed_file: Path | None
    seed_title: str
    forward_connect_timeout: float
    forward_read_timeout: float
    forward_verify_tls: bool
    log_level: str

    @property
    def artifacts_dir(self) -> Path:
        """The only folder whose files may be offered as artifacts."""
        return self.data_dir / "artifacts"

    @classmethod
    def from_env(cls, role: Role) -> Settings:
        """Read the settings of `role` from the environment, with the documented defaults."""
        if role not in ("edge", "cloud"):
            raise ValueError(f"role must be 'edge' or 'cloud', not {role!r}")
        if role == "edge":
            message_port = _env_int("IDS_EDGE_IDS_PORT", 8889)
            api_port = _env_int("IDS_EDGE_API_PORT", 8090)
        else:
            message_port = _env_int("IDS_CLOUD_DATA_APP_PORT", 8084)
            api_port = _env_int("IDS_CLOUD_API_PORT", 8091)
        data_dir = Path(_env("IDS_DATA_DIR", f".ids-mock/{role}")).expanduser().resolve()
        cert_dir = Path(_env("IDS_CERT_DIR", str(data_dir / "tls"))).expanduser().resolve()
        seed = _env("IDS_SEED_FILE", "")
        extra_names = [n.strip() for n in _env("IDS_CERT_HOSTNAMES", "").split(",") if n.strip()]
        return cls(
            role=role,
            bind_host=_env("IDS_BIND_HOST", "127.0.0.1"),
            message_port=message_port,
            api_port=api_port,
            api_user=_env("IDS_API_USER", PUBLISHED_API_USER),
            api_password=_env("IDS_API_PASSWORD", PUBLISHED_API_PASSWORD),
            connector_user=_env("IDS_CONNECTOR_USER", PUBLISHED_CONNECTOR_USER),
            connector_password=_env("IDS_CONNECTOR_PASSWORD", PUBLISHED_CONNECTOR_PASSWORD),
            lockout_attempts=_env_int("IDS_LOCKOUT_ATTEMPTS", 5),
            lockout_seconds=_env_float("IDS_LOCKOUT_MINUTES", 30.0) * 60.0,
            max_payload_bytes=int(_env_float("IDS_MAX_PAYLOAD_MB", 200.0) * 1024 * 1024),
            data_dir=data_dir,
            cert_dir=cert_dir,
            cert_hostnames=("localhost", "127.0.0.1", *extra_names),
            public_host=_env("IDS_PUBLIC_HOST", "localhost"),
            connector_id=_env("IDS_CONNECTOR_ID", DEFAULT_CONNECTOR_IDS[role]),
            seed_file=Path(seed).expanduser().resolve() if seed and role == "edge" else None,
            seed_title=_env("IDS_SEED_TITLE", ""),
            forward_connect_timeout=_env_float("IDS_FORWARD_CONNECT_TIMEOUT", 10.0),
            forward_read_timeout=_env_float("IDS_FORWARD_READ_TIMEOUT", 300.0),
            forward_verify_tls=_env_bool("IDS_FORWARD_VERIFY_TLS", False),
            log_level=_env("IDS_LOG_LEVEL", "info"),
        )

"""Where the IDS connectors are and how to talk to them, from IDS_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

# The TRUE Connector's published defaults (v1.11, as CLARUS deployed it), so that the client works
# unchanged against a real connector left at its defaults. Set the IDS_* variables for anything else.
PUBLISHED_DEFAULTS = {
    "IDS_CONNECTOR_USER": "connector",
    "IDS_CONNECTOR_PASSWORD": "password",
    "IDS_API_USER": "admin",
    "IDS_API_PASSWORD": "password",
}


def _env(name: str, default: str) -> str:
    # An empty variable counts as unset, as it does in `.env` files.
    return os.environ.get(name) or default


def _verify(value: str) -> bool | str:
    """IDS_VERIFY_TLS: false (self-signed connectors, the default), true, or a CA bundle path."""
    lowered = value.strip().lower()
    if lowered in {"", "0", "false", "no", "off"}:
        return False
    if lowered in {"1", "true", "yes", "on"}:
        return True
    return value


@dataclass(frozen=True)
class IdsClientSettings:
    """Hosts, ports, credentials, timeouts and retries of the IDS client."""

    edge_host: str = "127.0.0.1"
    edge_ids_port: str = "8889"
    edge_api_port: str = "8090"
    cloud_host: str = "127.0.0.1"
    cloud_data_app_port: str = "8084"
    cloud_api_port: str = "8091"
    connector_user: str = PUBLISHED_DEFAULTS["IDS_CONNECTOR_USER"]
    connector_password: str = PUBLISHED_DEFAULTS["IDS_CONNECTOR_PASSWORD"]
    api_user: str = PUBLISHED_DEFAULTS["IDS_API_USER"]
    api_password: str = PUBLISHED_DEFAULTS["IDS_API_PASSWORD"]
    # Connect: how long to wait for a connection. Read: the longest silence between two chunks of an
    # answer, not a limit on the whole download, so large artifacts are never cut short.
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    retries: int = 3
    backoff_seconds: float = 1.0
    verify: bool | str = False
    consumer_id: str = "http://w3id.org/engrd/connector/consumer"

    @classmethod
    def from_env(cls) -> IdsClientSettings:
        return cls(
            edge_host=_env("IDS_EDGE_HOST", cls.edge_host),
            edge_ids_port=_env("IDS_EDGE_IDS_PORT", cls.edge_ids_port),
            edge_api_port=_env("IDS_EDGE_API_PORT", cls.edge_api_port),
            cloud_host=_env("IDS_CLOUD_HOST", cls.cloud_host),
            cloud_data_app_port=_env("IDS_CLOUD_DATA_APP_PORT", cls.cloud_data_app_port),
            cloud_api_port=_env("IDS_CLOUD_API_PORT", cls.cloud_api_port),
            connector_user=_env("IDS_CONNECTOR_USER", cls.connector_user),
            connector_password=_env("IDS_CONNECTOR_PASSWORD", cls.connector_password),
            api_user=_env("IDS_API_USER", cls.api_user),
            api_password=_env("IDS_API_PASSWORD", cls.api_password),
            connect_timeout=float(_env("IDS_CONNECT_TIMEOUT", str(cls.connect_timeout))),
            read_timeout=float(_env("IDS_READ_TIMEOUT", str(cls.read_timeout))),
            retries=int(_env("IDS_RETRIES", str(cls.retries))),
            backoff_seconds=float(_env("IDS_RETRY_BACKOFF_SECONDS", str(cls.backoff_seconds))),
            verify=_verify(_env("IDS_VERIFY_TLS", "false")),
            consumer_id=_env("IDS_CONSUMER_CONNECTOR_ID", cls.consumer_id),
        )

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def connector_auth(self) -> tuple[str, str]:
        return (self.connector_user, self.connector_password)

    @property
    def api_auth(self) -> tuple[str, str]:
        return (self.api_user, self.api_password)

"""Settings of one mock connector process, read from IDS_* environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Role = Literal["edge", "cloud"]

# The TRUE Connector's published defaults (v1.11, as CLARUS deployed it): documented defaults, not
# secrets, so that client code written for the real connector works against the mock unchanged.
PUBLISHED_API_USER = "admin"
PUBLISHED_API_PASSWORD = "password"  # noqa: S105 - published default of the real connector
PUBLISHED_CONNECTOR_USER = "connector"
PUBLISHED_CONNECTOR_PASSWORD = "password"  # noqa: S105 - published default of the real connector

# The login of the edge's IDS endpoint when IDS_PEER_EDGE_* are unset: a local experiment's default,
# which `.env` replaces with a generated password (the real connector's peers use DAPS tokens).
LOCAL_PEER_USER = "peer-connector"
LOCAL_PEER_PASSWORD = "peer-password"  # noqa: S105 - default of a local experiment, see above
_PEER_NAME = re.compile(r"[a-z][a-z0-9_]*")

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


class BadTarget(ValueError):
    """A URL that cannot name a connector's endpoint (scheme, host, port or parts it must not have)."""


def endpoint_key(url: object) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) that identifies an http(s) endpoint, or BadTarget saying why.

    Two spellings of one endpoint (`HTTPS://Edge:8889/data/`, `https://edge:8889/data`) give the
    same key; credentials, a query or a fragment in the URL are refused.
    """
    if not isinstance(url, str) or not url.strip():
        raise BadTarget("it is empty or not a string")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("https", "http"):
        raise BadTarget("the scheme must be https or http")
    if not parts.hostname:
        raise BadTarget("it has no host")
    try:
        port = parts.port
    except ValueError as exc:  # a port that is not a number, or above 65535
        raise BadTarget(f"the port is not a port number: {exc}") from exc
    if port == 0:
        raise BadTarget("the port is not a port number: 0")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise BadTarget("it must not carry credentials, a query or a fragment")
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port or default_port, parts.path.rstrip("/") or "/"


@dataclass(frozen=True)
class Peer:
    """A connector this one forwards messages to, and the login this one has there."""

    name: str
    url: str
    user: str
    password: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return endpoint_key(self.url)


def _peer(name: str) -> Peer:
    prefix = f"IDS_PEER_{name.upper()}_"
    if name == "edge":
        host = _env("IDS_EDGE_HOST", "127.0.0.1")
        url = _env(prefix + "URL", f"https://{host}:{_env_int('IDS_EDGE_IDS_PORT', 8889)}/data")
        user = _env(prefix + "USER", LOCAL_PEER_USER)
        password = _env(prefix + "PASSWORD", LOCAL_PEER_PASSWORD)
    else:
        url, user, password = (_env(prefix + part, "") for part in ("URL", "USER", "PASSWORD"))
        missing = [prefix + part for part, value in
                   (("URL", url), ("USER", user), ("PASSWORD", password)) if not value]
        if missing:
            raise ValueError(f"IDS_PEERS names the peer {name!r}: set {', '.join(missing)}.")
    try:
        endpoint_key(url)
    except BadTarget as exc:
        raise ValueError(f"{prefix}URL={url!r} is not a connector endpoint: {exc}.") from exc
    return Peer(name, url, user, password)


def read_peers() -> tuple[Peer, ...]:
    """The peers of IDS_PEERS (comma-separated names, default `edge`) and their settings."""
    names = [n.strip().lower() for n in _env("IDS_PEERS", "edge").split(",") if n.strip()]
    for name in names:
        if not _PEER_NAME.fullmatch(name):
            raise ValueError(f"IDS_PEERS: {name!r} is not a peer name (letters, digits, _).")
    if len(set(names)) != len(names):
        raise ValueError(f"IDS_PEERS names a peer twice: {','.join(names)}.")
    return tuple(_peer(name) for name in names)


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
    peers: tuple[Peer, ...] = ()  # cloud: the only connectors /proxy forwards to

    def __post_init__(self) -> None:
        own = {(self.connector_user, self.connector_password), (self.api_user, self.api_password)}
        local_ports = {self.message_port, self.api_port}
        local_hosts = {"localhost", "127.0.0.1", "::1", self.bind_host, self.public_host}
        for peer in self.peers:
            # A peer login equal to one of ours would hand our own login to the peer; a peer at
            # our own address would let /proxy spend failed logins against ourselves.
            if (peer.user, peer.password) in own:
                raise ValueError(f"IDS_PEER_{peer.name.upper()}_USER/PASSWORD is a login of this "
                                 "connector itself: give the peer its own login.")
            _, host, port, _ = peer.key
            if port in local_ports and host in local_hosts:
                raise ValueError(f"Peer {peer.name} ({peer.url}) is this connector itself.")

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
            # The edge's IDS endpoint takes the login its peers have (IDS_PEER_EDGE_*), which is
            # not the login of the cloud's data app: the cloud never forwards its own.
            connector_user = _env("IDS_PEER_EDGE_USER", LOCAL_PEER_USER)
            connector_password = _env("IDS_PEER_EDGE_PASSWORD", LOCAL_PEER_PASSWORD)
            peers: tuple[Peer, ...] = ()
        else:
            message_port = _env_int("IDS_CLOUD_DATA_APP_PORT", 8084)
            api_port = _env_int("IDS_CLOUD_API_PORT", 8091)
            connector_user = _env("IDS_CONNECTOR_USER", PUBLISHED_CONNECTOR_USER)
            connector_password = _env("IDS_CONNECTOR_PASSWORD", PUBLISHED_CONNECTOR_PASSWORD)
            peers = read_peers()
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
            connector_user=connector_user,
            connector_password=connector_password,
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
            peers=peers,
        )

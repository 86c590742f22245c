"""The model server's settings, from environment variables with defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .login import Login


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class ServerSettings:
    tracking_uri: str
    model_name: str
    alias: str = "champion"
    bind_host: str = "127.0.0.1"
    port: int = 5001
    poll_seconds: float = 10.0
    login: Login | None = None  # HTTP basic auth on every route but the health checks

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(name) or default

        model_name = get("REGISTERED_MODEL_NAME")
        if not model_name:
            raise SettingsError("REGISTERED_MODEL_NAME is not set: name the registered model "
                                "whose alias this server serves")
        try:
            port = int(get("MODEL_SERVER_PORT", "5001"))
            poll_seconds = float(get("MODEL_SERVER_POLL_SECONDS", "10"))
        except ValueError as error:
            raise SettingsError(f"MODEL_SERVER_PORT / MODEL_SERVER_POLL_SECONDS: {error}") from None
        if poll_seconds < 0:
            raise SettingsError("MODEL_SERVER_POLL_SECONDS must be 0 (no polling) or more")
        return cls(
            tracking_uri=get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
            model_name=model_name,
            alias=get("MODEL_SERVER_ALIAS", "champion"),
            bind_host=get("MODEL_SERVER_BIND_HOST", "127.0.0.1"),
            port=port,
            poll_seconds=poll_seconds,
            login=(Login(get("MODEL_SERVER_AUTH_USER", "mlops"), get("MODEL_SERVER_AUTH_PASSWORD"))
                   if get("MODEL_SERVER_AUTH_PASSWORD") else None),
        )

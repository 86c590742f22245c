"""The model server's settings, from environment variables with defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class InferenceLogSettings:
    """Where and how often the inference log is written (see inference_log.py)."""

    enabled: bool = True
    prefix: str = "inference"  # mlflow-artifacts:/<prefix>/<model>/date=YYYY-MM-DD/...
    flush_rows: int = 1000  # write as soon as this many rows wait ...
    flush_seconds: float = 10.0  # ... or when the oldest has waited this long
    max_rows: int = 100_000  # rows held (queued or being written); more are dropped and counted


@dataclass(frozen=True)
class ServerSettings:
    tracking_uri: str
    model_name: str
    alias: str = "champion"
    bind_host: str = "127.0.0.1"
    port: int = 5001
    poll_seconds: float = 10.0
    inference_log: InferenceLogSettings = field(default_factory=InferenceLogSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(name) or default

        def number(name: str, default: str, kind: type = float, minimum: float = 0):
            try:
                value = kind(get(name, default))
            except ValueError:
                raise SettingsError(f"{name}={get(name)!r} is not a {kind.__name__}") from None
            if value < minimum:
                raise SettingsError(f"{name}={value} must be {minimum} or more")
            return value

        model_name = get("REGISTERED_MODEL_NAME")
        if not model_name:
            raise SettingsError("REGISTERED_MODEL_NAME is not set: name the registered model "
                                "whose alias this server serves")
        switch = get("INFERENCE_LOG", "on")
        if switch not in ("on", "off"):
            raise SettingsError(f"INFERENCE_LOG={switch!r}: use on or off")
        tracking_uri = get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
        if switch == "on" and not tracking_uri.startswith(("http://", "https://")):
            raise SettingsError(
                f"INFERENCE_LOG=on writes through MLflow's artifact proxy, which needs an MLflow "
                f"server (http:// or https://), not MLFLOW_TRACKING_URI={tracking_uri!r}: point it "
                "at the tracking server, or set INFERENCE_LOG=off")
        prefix = get("INFERENCE_LOG_PREFIX", "inference").strip("/")
        if not prefix:
            raise SettingsError("INFERENCE_LOG_PREFIX must name a folder, e.g. inference")
        return cls(
            tracking_uri=tracking_uri,
            model_name=model_name,
            alias=get("MODEL_SERVER_ALIAS", "champion"),
            bind_host=get("MODEL_SERVER_BIND_HOST", "127.0.0.1"),
            port=number("MODEL_SERVER_PORT", "5001", int, 1),
            poll_seconds=number("MODEL_SERVER_POLL_SECONDS", "10"),
            inference_log=InferenceLogSettings(
                enabled=switch == "on",
                prefix=prefix,
                flush_rows=number("INFERENCE_LOG_FLUSH_ROWS", "1000", int, 1),
                flush_seconds=number("INFERENCE_LOG_FLUSH_SECONDS", "10", float, 0.1),
                max_rows=number("INFERENCE_LOG_MAX_ROWS", "100000", int, 1),
            ),
        )

"""Runs one role of the mock: its message app and its self-description API, both over HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from ids_mock.api_app import create_api_app
from ids_mock.auth import BasicAuthMiddleware, LockoutTracker
from ids_mock.catalog import CatalogStore
from ids_mock.cloud_app import create_cloud_app
from ids_mock.edge_app import create_edge_app
from ids_mock.faults import Faults
from ids_mock.settings import Settings
from ids_mock.tls import ensure_certificate

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve`, which stops both servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_apps(settings: Settings) -> tuple[FastAPI, FastAPI, CatalogStore]:
    """(message app, API app, catalog) of the role, before authentication is added."""
    store = CatalogStore(settings.data_dir, settings.artifacts_dir, settings.connector_id)
    if settings.role == "edge":
        store.seed(settings.seed_file, settings.seed_title)
    faults = Faults.from_env()
    if settings.role == "edge":
        message_app = create_edge_app(settings, store, faults)
    else:
        message_app = create_cloud_app(settings, faults)
    return message_app, create_api_app(settings, store, faults), store


def serve(settings: Settings) -> None:
    """Serve both ports of the role until SIGTERM or SIGINT."""
    cert, key = ensure_certificate(settings.cert_dir, settings.role, settings.cert_hostnames)
    message_app, api_app, _ = build_apps(settings)
    lockout = LockoutTracker(settings.lockout_attempts, settings.lockout_seconds)
    servers = [
        _Server(uvicorn.Config(
            BasicAuthMiddleware(app, user, password, lockout),
            host=settings.bind_host,
            port=port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level=settings.log_level,
            lifespan="on",
            timeout_graceful_shutdown=3,
        ))
        for app, port, user, password in (
            (message_app, settings.message_port, settings.connector_user,
             settings.connector_password),
            (api_app, settings.api_port, settings.api_user, settings.api_password),
        )
    ]

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        log.info(
            "ids-mock %s: messages on %s:%d, API on %s:%d, data in %s",
            settings.role, settings.bind_host, settings.message_port,
            settings.bind_host, settings.api_port, settings.data_dir,
        )
        results = await asyncio.gather(*(s.serve() for s in servers), return_exceptions=True)
        # If one server could not start (port taken), stop the other and fail loudly.
        stop()
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            if not server.started:
                raise SystemExit(f"ids-mock: could not serve on port {server.config.port}")

    # The loop uvicorn itself would pick (`loop="auto"`: uvloop when installed, as in the image);
    # a plain asyncio.run() would always take the slower selector loop and its Python TLS layer.
    with asyncio.Runner(loop_factory=servers[0].config.get_loop_factory()) as runner:
        runner.run(run())

"""Checks before anything starts: free ports, enough memory and disk."""

from __future__ import annotations

import errno
import ipaddress
import shutil
import socket
from pathlib import Path

import psutil

from stack.native.debian_redis import package_server_hint
from stack.services import Service
from stack.settings import Settings

MIN_MEMORY_GIB = 2.0
MIN_DISK_GIB = 2.0


class PreflightError(RuntimeError):
    """The machine cannot run the stack as configured; the message says what to change."""


def _who_listens(port: int, variable: str) -> str:
    """`(pid N, name)` of the process on `port` where we may know it; for a Redis on REDIS_PORT
    also whose it is and what to do."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if (conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN
                    and conn.pid):
                name = psutil.Process(conn.pid).name()
                hint = (f": {package_server_hint(conn.pid)}"
                        if variable == "REDIS_PORT" and name == "redis-server" else "")
                return f" (pid {conn.pid}, {name}){hint}"
    except (psutil.Error, OSError):
        pass
    return ""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_ports(settings: Settings, services: list[Service]) -> None:
    """Every port our services will listen on must be free; name the variable when one is not."""
    busy = []
    for service in services:
        for variable in service.ports:
            port = settings.int(variable)
            # Airflow's log servers bind the wildcard address whatever we ask.
            host = "0.0.0.0" if variable.startswith("AIRFLOW_") and "LOG" in variable \
                else settings.bind_host
            if not port_is_free(host, port):
                busy.append(f"port {port} ({variable}, for {service.name}) is already in use"
                            f"{_who_listens(port, variable)}")
    if busy:
        raise PreflightError("; ".join(busy) + ". Stop what uses it, or set another port in .env.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The services that ask for no login on loopback, each with its switch and the secrets it then needs.
LOGINS = {"MLFLOW_AUTH": ("MLFLOW_AUTH_PASSWORD", "MLFLOW_AUTH_SECRET_KEY"),
          "MODEL_SERVER_AUTH": ("MODEL_SERVER_AUTH_PASSWORD",)}


def check_exposure(settings: Settings) -> None:
    """Nothing listens beyond loopback without a login: refuse a STACK_BIND_HOST that would.

    PostgreSQL (scram-sha-256), Redis (REDIS_PASSWORD), S3, Airflow and the IDS connectors always
    ask for one; MLflow and the model server only with their basic auth (MLFLOW_AUTH=basic,
    MODEL_SERVER_AUTH=basic), under either runner.
    """
    host = settings.bind_host
    if is_loopback(host):
        return
    missing = []
    for switch, secrets in LOGINS.items():
        if settings.values.get(switch) != "basic":
            missing.append(f"{switch}=basic")
        missing += [f"{name}=<a long random value>" for name in secrets
                    if not settings.values.get(name)]
    if missing:
        raise PreflightError(
            f"STACK_BIND_HOST={host} makes the stack reachable from other machines, where every "
            f"service must ask for a login, and MLflow and the model server ask for none without "
            f"their basic auth. Set {', '.join(missing)} in .env (their clients then log in as "
            f"MLFLOW_AUTH_USER and MODEL_SERVER_AUTH_USER), or keep STACK_BIND_HOST=127.0.0.1.")


def check_resources(state_dir: Path, min_memory_gib: float = MIN_MEMORY_GIB,
                    min_disk_gib: float = MIN_DISK_GIB) -> None:
    available = psutil.virtual_memory().available / 2**30
    if available < min_memory_gib:
        raise PreflightError(f"only {available:.1f} GiB of memory is available; the stack needs "
                             f"about {min_memory_gib:.0f} GiB. Close something and try again.")
    probe = state_dir if state_dir.exists() else state_dir.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    if free < min_disk_gib:
        raise PreflightError(f"only {free:.1f} GiB free on the disk of {probe}; the stack needs "
                             f"{min_disk_gib:.0f} GiB. Free some space or set STACK_STATE_DIR.")

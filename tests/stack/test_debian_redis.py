"""Debian's redis-server package: the server its install starts is stopped, any other Redis is not.

Real redis-server processes stand for the package's (started by a fake `apt-get install`, which
writes the package's pidfile as the package's service does) and for someone else's; the init
system's commands are recorded, not run, so this machine's services stay as they are.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stack.native import debian_redis
from stack.preflight import PreflightError, check_ports
from stack.private import free_port
from stack.services import BY_NAME
from stack.settings import ensure_env_file, load_settings

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (apt-get install redis-server)")


def start_redis(folder: Path) -> subprocess.Popen:
    """A real redis-server on a free loopback port, answering PING."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.port = port
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)


@pytest.fixture
def redises(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def init_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The package's pidfile in tmp_path, and the init system's commands recorded, not run."""
    monkeypatch.setattr(debian_redis, "PACKAGE_PIDFILE", tmp_path / "redis-server.pid")
    commands: list[list[str]] = []
    monkeypatch.setattr(debian_redis.subprocess, "run",
                        lambda command, **kwargs: commands.append(command))
    monkeypatch.setattr(debian_redis.shutil, "which", lambda name: f"/usr/sbin/{name}")
    return commands


def test_the_server_the_install_started_is_stopped_and_others_are_left_alone(
        tmp_path: Path, redises: list, init_system: list, capsys: pytest.CaptureFixture) -> None:
    theirs = start_redis(tmp_path / "theirs")  # running before the install: someone else's
    redises.append(theirs)

    def apt_install(packages: list[str]) -> bool:
        assert packages == ["redis-server"]
        package = start_redis(tmp_path / "package")  # as the package's maintainer scripts do
        redises.append(package)
        debian_redis.PACKAGE_PIDFILE.write_text(f"{package.pid}\n")
        return True

    assert debian_redis.install_redis_server(apt_install)
    package = redises[1]
    package.wait(timeout=20)  # stopped by its pid: here the init system did nothing
    assert theirs.poll() is None, "a Redis running before the install was stopped"
    assert init_system, "the package's service was not disabled"
    said = capsys.readouterr().out
    assert f"stopping the Redis the install started (pid {package.pid}" in said
    assert "Disabling the package's service" in said


def test_a_new_redis_the_package_does_not_name_is_left_alone(
        tmp_path: Path, redises: list, init_system: list) -> None:
    def apt_install(packages: list[str]) -> bool:
        redises.append(start_redis(tmp_path / "other"))  # started meanwhile by someone else
        return True

    assert debian_redis.install_redis_server(apt_install)
    time.sleep(0.5)
    assert redises[0].poll() is None


def test_a_failed_install_changes_nothing(init_system: list) -> None:
    assert not debian_redis.install_redis_server(lambda packages: False)
    assert init_system == []


def test_the_service_is_disabled_through_the_init_system_that_runs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(debian_redis.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(debian_redis, "SYSTEMD_RUNNING", tmp_path)  # exists: systemd runs
    assert debian_redis._service_commands() == [["systemctl", "disable", "--now", "redis-server"]]
    monkeypatch.setattr(debian_redis, "SYSTEMD_RUNNING", tmp_path / "absent")
    assert debian_redis._service_commands() == [["update-rc.d", "redis-server", "disable"],
                                                ["invoke-rc.d", "redis-server", "stop"]]


@pytest.mark.parametrize("packaged", [True, False])
def test_a_redis_on_redis_port_is_named_with_what_to_do(
        tmp_path: Path, redises: list, monkeypatch: pytest.MonkeyPatch, packaged: bool) -> None:
    squatter = start_redis(tmp_path / "squatter")
    redises.append(squatter)
    pidfile = tmp_path / "redis-server.pid"
    pidfile.write_text(f"{squatter.pid if packaged else psutil.Process().pid}\n")
    monkeypatch.setattr(debian_redis, "PACKAGE_PIDFILE", pidfile)
    env = tmp_path / ".env"
    ensure_env_file(env)
    settings = load_settings(env, environ={"REDIS_PORT": str(squatter.port),
                                           "AIRFLOW_EXECUTOR": "celery"})
    with pytest.raises(PreflightError) as caught:
        check_ports(settings, [BY_NAME["redis"]])
    message = str(caught.value)
    assert f"port {squatter.port} (REDIS_PORT, for redis) is already in use" in message
    assert f"pid {squatter.pid}, redis-server" in message
    if packaged:
        assert "Debian's redis-server service" in message
        assert "systemctl disable --now redis-server" in message
    else:
        assert "not started by this stack" in message
    assert "set REDIS_PORT to another port" in message


def test_make_redis_installs_when_missing_and_otherwise_says_how(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    installs: list[bool] = []
    monkeypatch.setattr(debian_redis.shutil, "which", lambda name: None)
    monkeypatch.setattr(debian_redis, "install_redis_server", lambda: installs.append(True) or True)
    assert debian_redis.main() == 0 and installs == [True]
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(debian_redis, "install_redis_server", lambda: False)
    assert debian_redis.main() == 0  # never stops `make test`: the tests that need it skip
    assert "as root: apt-get install redis-server" in capsys.readouterr().err

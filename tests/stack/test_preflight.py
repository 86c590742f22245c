"""Checks before anything starts: a busy port, too little memory or disk, each named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stack.preflight import PreflightError, check_exposure, check_ports, check_resources, port_is_free
from stack.services import BY_NAME
from stack.settings import SettingsError, ensure_env_file, load_settings


def test_busy_port_is_named_with_its_variable_and_service(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        settings = load_settings(env, environ={"MODEL_SERVER_PORT": str(port)})
        with pytest.raises(PreflightError) as caught:
            check_ports(settings, [BY_NAME["model-server"]])
    assert f"port {port} (MODEL_SERVER_PORT, for model-server) is already in use" in str(caught.value)
    assert "set another port in .env" in str(caught.value)


def test_free_ports_pass(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(env, environ={"MODEL_SERVER_PORT": str(port)})
    check_ports(settings, [BY_NAME["model-server"]])


def test_too_little_memory_is_named(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"GiB of memory is available; the stack needs"):
        check_resources(tmp_path, min_memory_gib=10_000)


def test_too_little_disk_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=rf"GiB free on the disk of {tmp_path}.*STACK_STATE_DIR"):
        check_resources(tmp_path, min_memory_gib=0, min_disk_gib=10_000_000)


def test_enough_of_both_passes(tmp_path: Path) -> None:
    check_resources(tmp_path / "not" / "yet" / "there", min_memory_gib=0.01, min_disk_gib=0.01)


def _settings(tmp_path: Path, **values: str):
    env = tmp_path / ".env"
    ensure_env_file(env)
    return load_settings(env, environ=values)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_needs_no_login(tmp_path: Path, host: str) -> None:
    check_exposure(_settings(tmp_path, STACK_BIND_HOST=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "mlops.example.org"])
def test_beyond_loopback_without_logins_is_refused_saying_what_to_set(tmp_path: Path,
                                                                      host: str) -> None:
    with pytest.raises(PreflightError) as caught:
        check_exposure(_settings(tmp_path, STACK_BIND_HOST=host))
    message = str(caught.value)
    assert f"STACK_BIND_HOST={host}" in message
    assert "MLFLOW_AUTH=basic" in message and "MODEL_SERVER_AUTH=basic" in message
    assert "keep STACK_BIND_HOST=127.0.0.1" in message
    # One login is not enough: the other is named.
    for on, named in (("MLFLOW_AUTH", "MODEL_SERVER_AUTH=basic"),
                      ("MODEL_SERVER_AUTH", "MLFLOW_AUTH=basic")):
        with pytest.raises(PreflightError) as caught:
            check_exposure(_settings(tmp_path, STACK_BIND_HOST=host, **{on: "basic"}))
        assert named in str(caught.value) and f"{on}=basic" not in str(caught.value)
    # With both logins either runner lets it through (a fresh .env has their secrets).
    check_exposure(_settings(tmp_path, STACK_BIND_HOST=host, MLFLOW_AUTH="basic",
                             MODEL_SERVER_AUTH="basic"))


def test_mlflow_login_without_its_secrets_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env)
    lines = [line for line in env.read_text().splitlines()
             if not line.startswith("MLFLOW_AUTH_SECRET_KEY=")]
    env.write_text("\n".join(lines) + "\n")
    # A .env written before MLflow had a login stays valid while MLFLOW_AUTH=off ...
    settings = load_settings(env, environ={"STACK_BIND_HOST": "10.1.2.3"})
    with pytest.raises(PreflightError, match="MLFLOW_AUTH=basic"):
        check_exposure(settings)
    # ... and names the missing secret once the login is switched on.
    with pytest.raises(SettingsError, match="MLFLOW_AUTH_SECRET_KEY"):
        load_settings(env, environ={"STACK_BIND_HOST": "10.1.2.3", "MLFLOW_AUTH": "basic"})


def test_up_refuses_beyond_loopback_before_starting_anything(tmp_path: Path) -> None:
    from stack.__main__ import main

    env = tmp_path / ".env"
    ensure_env_file(env)
    env.write_text(env.read_text().replace("STACK_BIND_HOST=127.0.0.1", "STACK_BIND_HOST=0.0.0.0")
                   .replace("STACK=\n", "STACK=native\n")
                   .replace("STACK_STATE_DIR=.stack", f"STACK_STATE_DIR={tmp_path / 'state'}"))
    assert main(["--env-file", str(env), "up"]) == 2
    assert not (tmp_path / "state").exists()

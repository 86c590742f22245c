"""Checks before anything starts: a busy port, too little memory or disk, each named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stack.preflight import PreflightError, check_ports, check_resources, port_is_free
from stack.services import BY_NAME
from stack.settings import ensure_env_file, load_settings


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

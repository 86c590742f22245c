"""The cloud's peers (IDS_PEERS): read from the environment, refused at start when unsafe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .mock_processes import base_env


@pytest.fixture
def env(monkeypatch):
    """Sets IDS_* variables on top of none: the developer's shell or `.env` does not leak in."""
    for name in [name for name in os.environ if name.startswith("IDS_")]:
        monkeypatch.delenv(name)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def cloud_settings():
    from ids_mock.settings import Settings

    return Settings.from_env("cloud")


def test_the_default_peer_is_the_edge_with_its_own_login(env):
    env(IDS_EDGE_HOST="ids-edge", IDS_EDGE_IDS_PORT="18889", IDS_PEER_EDGE_PASSWORD="s3cret")
    (peer,) = cloud_settings().peers
    assert (peer.name, peer.url, peer.password) == ("edge", "https://ids-edge:18889/data", "s3cret")


def test_more_peers_each_with_url_and_login(env):
    env(IDS_PEERS="edge, lab_2", IDS_PEER_LAB_2_URL="https://lab2.example:8889/data",
        IDS_PEER_LAB_2_USER="consumer-a", IDS_PEER_LAB_2_PASSWORD="pw-a")
    assert [(p.name, p.user) for p in cloud_settings().peers] == [
        ("edge", "peer-connector"), ("lab_2", "consumer-a")]


@pytest.mark.parametrize(("values", "message"), [
    ({"IDS_PEER_EDGE_USER": "connector", "IDS_PEER_EDGE_PASSWORD": "password"},
     "login of this connector itself"),
    ({"IDS_PEER_EDGE_USER": "admin", "IDS_PEER_EDGE_PASSWORD": "password"},
     "login of this connector itself"),
    ({"IDS_PEER_EDGE_URL": "https://localhost:8091/"}, "is this connector itself"),
    ({"IDS_PEER_EDGE_URL": "https://127.0.0.1:notaport/data"}, "IDS_PEER_EDGE_URL"),
    ({"IDS_PEERS": "edge,lab"}, "IDS_PEER_LAB_URL, IDS_PEER_LAB_USER, IDS_PEER_LAB_PASSWORD"),
    ({"IDS_PEERS": "edge,edge"}, "twice"),
    ({"IDS_PEERS": "edge;lab"}, "not a peer name"),
])
def test_unsafe_or_incomplete_peers_are_refused(env, values, message):
    env(**values)
    with pytest.raises(ValueError, match=message):
        cloud_settings()


def test_serve_names_the_bad_setting_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "ids_mock", "serve", "--role", "cloud"],
        env={**base_env(), "IDS_PEERS": "edge,lab"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "IDS_PEER_LAB_URL" in result.stderr and "Traceback" not in result.stderr

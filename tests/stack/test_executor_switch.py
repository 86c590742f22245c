"""A running native stack keeps its services: `make up` with another executor says to restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.native.backends import Backends
from stack.native.runner import NativeRunner
from stack.settings import load_settings, render_env
from stack.startup import StartError


class _Running:
    """supervisord's answer for a stack started with the LocalExecutor."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def all_info(self) -> list[dict]:
        return [{"name": name} for name in self.names]


def test_switching_to_celery_under_a_running_stack_asks_for_a_restart(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(render_env())
    backends = Backends("postgres", "rclone")
    local = NativeRunner(load_settings(path, environ={}))
    started = [s.name for s in local.services(backends) if not s.one_shot]
    local.supervisor = _Running(started)
    local._check_same_services(local.services(backends))  # the same settings: nothing to say

    celery = NativeRunner(load_settings(path, environ={"AIRFLOW_EXECUTOR": "celery"}))
    celery.supervisor = _Running(started)
    with pytest.raises(StartError) as caught:
        celery._check_same_services(celery.services(backends))
    message = str(caught.value)
    assert "redis" in message and "airflow-worker-1" in message and "airflow-worker-2" in message
    assert "`make down`, then `make up`" in message

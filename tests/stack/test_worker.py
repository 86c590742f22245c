"""A worker machine's settings: what `make worker-env` writes and what `make worker` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.settings import SettingsError, load_settings, render_env
from stack.worker import load_worker_settings, worker_env_text


@pytest.fixture
def stack_settings(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text(render_env().replace("AIRFLOW_EXECUTOR=local", "AIRFLOW_EXECUTOR=celery"))
    return load_settings(path, environ={})


def test_worker_env_holds_only_what_a_worker_needs(stack_settings, tmp_path: Path) -> None:
    text = worker_env_text(stack_settings, "10.0.0.5")
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert values["STACK_SERVER_HOST"] == "10.0.0.5"
    for name in ("REDIS_PASSWORD", "AIRFLOW_DB_PASSWORD", "S3_SECRET_KEY", "REDIS_PORT",
                 "POSTGRES_PORT", "MLFLOW_PORT", "S3_PORT", "AIRFLOW_PORT"):
        assert values[name] == stack_settings.get(name), name
    assert not {"AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY",
                "POSTGRES_SUPERUSER_PASSWORD", "MLFLOW_DB_PASSWORD", "STACK_BIND_HOST"} & set(values)
    worker_env = tmp_path / "worker" / ".env"
    worker_env.parent.mkdir()
    worker_env.write_text(text)
    worker = load_worker_settings(worker_env)
    # Every client URL points at the stack's machine.
    assert worker.client_host == "10.0.0.5"
    assert worker.broker_url.endswith(f"@10.0.0.5:{stack_settings.get('REDIS_PORT')}/0")
    assert worker.get("AIRFLOW_JWT_SECRET") == ""  # not needed, so not there


def test_a_worker_needs_the_stacks_address_and_the_celery_executor(stack_settings,
                                                                    tmp_path: Path) -> None:
    text = worker_env_text(stack_settings, "10.0.0.5")
    path = tmp_path / ".env"
    path.write_text(text.replace("STACK_SERVER_HOST=10.0.0.5", "STACK_SERVER_HOST="))
    with pytest.raises(SettingsError, match="STACK_SERVER_HOST"):
        load_worker_settings(path)
    path.write_text(text.replace("AIRFLOW_EXECUTOR=celery", "AIRFLOW_EXECUTOR=local"))
    with pytest.raises(SettingsError, match="AIRFLOW_EXECUTOR"):
        load_worker_settings(path)
    path.write_text("\n".join(line for line in text.splitlines()
                              if not line.startswith("REDIS_PASSWORD=")))
    with pytest.raises(SettingsError, match="REDIS_PASSWORD"):
        load_worker_settings(path)

"""MLFLOW_AUTH=basic: MLflow's basic-auth app, and every MLflow client of the stack logged in."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.native.programs import client_environment, mlflow_auth_config, program
from stack.settings import Settings, load_settings, render_env

BACKENDS = Backends("postgres", "minio", postgres_bin="/usr/lib/postgresql/15/bin", s3_bin="minio")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / ".env"
    path.write_text(render_env())
    return load_settings(path, environ={"MLFLOW_AUTH": "basic"})


def test_mlflow_runs_its_basic_auth_app_with_the_login_of_env(settings: Settings,
                                                              tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    mlflow = program("mlflow", settings, BACKENDS, layout)
    assert mlflow.argv[-2:] == ["--app-name", "basic-auth"]
    assert mlflow.env["MLFLOW_AUTH_ADMIN_USERNAME"] == settings.get("MLFLOW_AUTH_USER")
    assert mlflow.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == settings.get("MLFLOW_AUTH_PASSWORD")
    assert mlflow.env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == settings.get("MLFLOW_AUTH_SECRET_KEY")
    assert mlflow.env["MLFLOW_AUTH_CONFIG_PATH"] == str(layout.mlflow_auth_conf)
    assert settings.get("MLFLOW_AUTH_PASSWORD") not in " ".join(mlflow.argv)
    config = mlflow_auth_config(layout)
    # Its user store in the state folder (MLflow's default is a file in the working directory).
    assert f"database_uri = sqlite:///{layout.mlflow_auth_db}" in config.splitlines()
    assert settings.get("MLFLOW_AUTH_PASSWORD") not in config


def test_every_mlflow_client_logs_in(settings: Settings, tmp_path: Path) -> None:
    login = {"MLFLOW_TRACKING_USERNAME": settings.get("MLFLOW_AUTH_USER"),
             "MLFLOW_TRACKING_PASSWORD": settings.get("MLFLOW_AUTH_PASSWORD")}
    layout = Layout(tmp_path / "state")
    assert client_environment(settings, BACKENDS).items() >= login.items()  # tasks, tests
    assert program("model-server", settings, BACKENDS, layout).env.items() >= login.items()
    assert program("airflow-scheduler", settings, BACKENDS, layout).env.items() >= login.items()
    assert settings.mlflow_auth == (login["MLFLOW_TRACKING_USERNAME"],
                                    login["MLFLOW_TRACKING_PASSWORD"])


def test_without_a_login_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(render_env())
    settings = load_settings(path, environ={})
    mlflow = program("mlflow", settings, BACKENDS, Layout(tmp_path))
    assert "--app-name" not in mlflow.argv
    assert not any(k.startswith("MLFLOW_AUTH") for k in mlflow.env)
    assert "MLFLOW_TRACKING_PASSWORD" not in client_environment(settings, BACKENDS)
    assert settings.mlflow_auth is None

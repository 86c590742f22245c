"""MLFLOW_AUTH=basic: MLflow's basic-auth app, and every MLflow client of the stack logged in."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

import pytest

from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.native.programs import client_environment, program, service_program
from stack.settings import REPO_ROOT, Settings, load_settings, render_env

BACKENDS = Backends("postgres", "minio", postgres_bin="/usr/lib/postgresql/15/bin", s3_bin="minio")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / ".env"
    path.write_text(render_env())
    return load_settings(path, environ={"MLFLOW_AUTH": "basic"})


def load_serve():
    """mlflow/serve.py, the command both runners start MLflow with."""
    spec = importlib.util.spec_from_file_location("mlflow_serve", REPO_ROOT / "mlflow" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_runs_its_basic_auth_app_with_the_login_of_env(settings: Settings,
                                                              tmp_path: Path) -> None:
    layout = Layout(tmp_path / "state")
    mlflow = program("mlflow", settings, BACKENDS, layout)
    assert mlflow.env["MLFLOW_AUTH"] == "basic"
    assert mlflow.env["MLFLOW_AUTH_ADMIN_USERNAME"] == settings.get("MLFLOW_AUTH_USER")
    assert mlflow.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == settings.get("MLFLOW_AUTH_PASSWORD")
    assert mlflow.env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == settings.get("MLFLOW_AUTH_SECRET_KEY")
    assert mlflow.env["MLFLOW_AUTH_STORE"] == str(layout.mlflow_auth_store)
    assert settings.get("MLFLOW_AUTH_PASSWORD") not in " ".join(mlflow.argv)
    # serve.py turns that environment into MLflow's options, as it does in the Compose image.
    environ = dict(mlflow.env)
    assert load_serve().basic_auth_options(environ) == ["--app-name", "basic-auth"]
    config = configparser.ConfigParser()
    config.read(environ["MLFLOW_AUTH_CONFIG_PATH"])
    # Its user store in the state folder (MLflow's default is a file in the working directory).
    assert config["mlflow"]["database_uri"] == f"sqlite:///{layout.mlflow_auth_store / 'basic_auth.db'}"
    assert config["mlflow"]["default_permission"] == "READ"
    assert settings.get("MLFLOW_AUTH_PASSWORD") not in Path(environ["MLFLOW_AUTH_CONFIG_PATH"]).read_text()


def test_serve_refuses_a_login_without_its_user_store() -> None:
    serve = load_serve()
    assert serve.basic_auth_options({"MLFLOW_AUTH": "off"}) == []
    with pytest.raises(SystemExit, match="MLFLOW_AUTH_STORE"):
        serve.basic_auth_options({"MLFLOW_AUTH": "basic"})


def test_every_mlflow_client_logs_in(settings: Settings, tmp_path: Path) -> None:
    login = {"MLFLOW_TRACKING_USERNAME": settings.get("MLFLOW_AUTH_USER"),
             "MLFLOW_TRACKING_PASSWORD": settings.get("MLFLOW_AUTH_PASSWORD")}
    layout = Layout(tmp_path / "state")
    assert client_environment(settings, BACKENDS).items() >= login.items()  # tasks, tests
    assert program("model-server", settings, BACKENDS, layout).env.items() >= login.items()
    assert service_program("airflow-scheduler", settings, BACKENDS,
                           layout).env.items() >= login.items()
    assert settings.mlflow_auth == (login["MLFLOW_TRACKING_USERNAME"],
                                    login["MLFLOW_TRACKING_PASSWORD"])


def test_without_a_login_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(render_env())
    settings = load_settings(path, environ={})
    mlflow = program("mlflow", settings, BACKENDS, Layout(tmp_path))
    assert "--app-name" not in mlflow.argv
    assert not any(k.startswith("MLFLOW_AUTH") for k in mlflow.env)
    assert load_serve().basic_auth_options(dict(mlflow.env)) == []
    assert "MLFLOW_TRACKING_PASSWORD" not in client_environment(settings, BACKENDS)
    assert settings.mlflow_auth is None

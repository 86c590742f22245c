"""`.env` creation and validation: fresh secrets, never an overwrite, clear errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from dotenv import dotenv_values

from stack.settings import (
    SECRET_GENERATORS,
    SettingsError,
    add_missing_secrets,
    ensure_env_file,
    example_variables,
    load_settings,
    render_env,
)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    assert ensure_env_file(path)
    return path


def rewrite(path: Path, name: str, value: str | None) -> None:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(f"{name}=")]
    if value is not None:
        lines.append(f"{name}={value}")
    path.write_text("\n".join(lines) + "\n")


def test_fresh_env_has_every_documented_variable_and_valid_secrets(env_file: Path) -> None:
    values = dotenv_values(env_file)
    assert set(values) == set(example_variables())
    settings = load_settings(env_file, environ={})
    for name in SECRET_GENERATORS:
        assert settings.get(name), name
    assert len(base64.urlsafe_b64decode(settings.get("AIRFLOW_FERNET_KEY"))) == 32
    assert len(settings.get("AIRFLOW_JWT_SECRET").encode()) >= 64
    assert env_file.stat().st_mode & 0o077 == 0, ".env holds secrets: it must not be world-readable"


def test_fresh_env_gives_airflows_containers_the_users_own_uid(env_file: Path) -> None:
    # As the official quick start does: what Compose's Airflow writes into the project is yours.
    assert load_settings(env_file, environ={}).get("AIRFLOW_UID") == str(os.getuid())


def test_an_old_env_without_the_model_servers_login_stays_valid_until_it_is_switched_on(
        env_file: Path) -> None:
    rewrite(env_file, "MODEL_SERVER_AUTH_PASSWORD", None)
    assert load_settings(env_file, environ={}).model_server_auth is None
    with pytest.raises(SettingsError, match="MODEL_SERVER_AUTH_PASSWORD is missing"):
        load_settings(env_file, environ={"MODEL_SERVER_AUTH": "basic"})
    assert add_missing_secrets(env_file) == ["MODEL_SERVER_AUTH_PASSWORD"]
    settings = load_settings(env_file, environ={"MODEL_SERVER_AUTH": "basic"})
    assert settings.model_server_auth == ("mlops", settings.get("MODEL_SERVER_AUTH_PASSWORD"))


def test_secrets_differ_between_two_fresh_files() -> None:
    first, second = dotenv_values(stream=_io(render_env())), dotenv_values(stream=_io(render_env()))
    for name in SECRET_GENERATORS:
        assert first[name] != second[name], name


def _io(text: str):
    import io

    return io.StringIO(text)


def test_existing_env_is_never_overwritten(env_file: Path) -> None:
    before = env_file.read_text()
    assert not ensure_env_file(env_file)
    assert env_file.read_text() == before


def test_missing_variable_is_named(env_file: Path) -> None:
    rewrite(env_file, "MLFLOW_DB_PASSWORD", None)
    with pytest.raises(SettingsError, match="MLFLOW_DB_PASSWORD is missing"):
        load_settings(env_file, environ={})


def test_secret_added_after_the_env_was_written_is_added_by_make_up(env_file: Path) -> None:
    # An .env from before the IDS peer login existed.
    rewrite(env_file, "IDS_PEER_EDGE_PASSWORD", None)
    with pytest.raises(SettingsError, match="IDS_PEER_EDGE_PASSWORD is missing.*make up"):
        load_settings(env_file, environ={})
    before = env_file.read_text()
    assert add_missing_secrets(env_file) == ["IDS_PEER_EDGE_PASSWORD"]
    after = env_file.read_text()
    assert after.startswith(before), "the lines already there are kept as they were"
    assert load_settings(env_file, environ={}).get("IDS_PEER_EDGE_PASSWORD")
    assert add_missing_secrets(env_file) == [] and env_file.read_text() == after


def test_a_secret_left_empty_is_not_replaced(env_file: Path) -> None:
    rewrite(env_file, "AIRFLOW_FERNET_KEY", "")
    assert add_missing_secrets(env_file) == []
    assert dotenv_values(env_file)["AIRFLOW_FERNET_KEY"] == ""


def test_generated_secret_left_empty_says_how_to_regenerate(env_file: Path) -> None:
    rewrite(env_file, "AIRFLOW_FERNET_KEY", "")
    with pytest.raises(SettingsError, match="AIRFLOW_FERNET_KEY .*generate"):
        load_settings(env_file, environ={})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("AIRFLOW_PORT", "80a", "AIRFLOW_PORT='80a' is not a port number"),
    ("MLFLOW_PORT", "70000", "MLFLOW_PORT='70000' is not a port number"),
    ("AIRFLOW_FERNET_KEY", "not-a-key", "AIRFLOW_FERNET_KEY is not a Fernet key"),
    ("AIRFLOW_JWT_SECRET", "short", "AIRFLOW_JWT_SECRET is 5 bytes"),
    ("AIRFLOW_DB_PASSWORD", "p@ss/word", "AIRFLOW_DB_PASSWORD may only hold"),
    ("MLFLOW_DB_USER", "1mlflow", "MLFLOW_DB_USER='1mlflow' must start with a letter"),
    ("STACK", "kubernetes", "STACK='kubernetes': use one of compose, native, external"),
    ("STACK_HEALTH_TIMEOUT", "-3", "STACK_HEALTH_TIMEOUT='-3' must be a whole number"),
])
def test_malformed_variable_is_named(env_file: Path, name: str, value: str, message: str) -> None:
    rewrite(env_file, name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file, environ={})
    assert message in str(caught.value)


def test_two_services_on_one_port_are_refused(env_file: Path) -> None:
    rewrite(env_file, "MLFLOW_PORT", "8080")
    with pytest.raises(SettingsError, match="MLFLOW_PORT and AIRFLOW_PORT are both 8080"):
        load_settings(env_file, environ={})


def test_environment_overrides_env_file_like_compose(env_file: Path) -> None:
    settings = load_settings(env_file, environ={"AIRFLOW_PORT": "18080", "UNRELATED": "x"})
    assert settings.airflow_url == "http://127.0.0.1:18080"
    assert "UNRELATED" not in settings.values


def test_missing_env_file_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="make up"):
        load_settings(tmp_path / ".env", environ={})


def test_setting_added_after_env_was_written_takes_its_documented_default(env_file: Path) -> None:
    rewrite(env_file, "TASK_RETRIES", None)
    assert load_settings(env_file, environ={}).get("TASK_RETRIES") == "2"


def test_invalid_choice_is_named(env_file: Path) -> None:
    rewrite(env_file, "AIRFLOW_EXECUTOR", "kubernetes")
    with pytest.raises(SettingsError, match="AIRFLOW_EXECUTOR='kubernetes': use one of local, celery"):
        load_settings(env_file, environ={})

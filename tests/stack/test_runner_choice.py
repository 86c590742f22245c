"""Which runner `make up` picks, with fakes of the Docker engine check and of the data each holds."""

from __future__ import annotations

from pathlib import Path

import pytest

import stack.__main__ as cli
from stack.compose import ComposeRunner
from stack.native.layout import Layout
from stack.native.runner import NativeRunner
from stack.settings import (
    Settings,
    SettingsError,
    ensure_env_file,
    example_variables,
    load_settings,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = tmp_path / ".env"
    ensure_env_file(env)
    return load_settings(env, environ={"STACK": "", "STACK_STATE_DIR": str(tmp_path / "state")})


def fake_machine(monkeypatch: pytest.MonkeyPatch, engine: bool, volumes: list[str]) -> list[str]:
    """The engine answers or not; Compose's project has `volumes`. Returns the calls made."""
    calls: list[str] = []

    def engine_available() -> bool:
        calls.append("engine")
        return engine

    def project_volumes(project: str) -> list[str]:
        assert project == PROJECT
        calls.append("volumes")
        assert engine, "volumes can only be listed when an engine answers"
        return volumes

    monkeypatch.setattr(cli, "engine_available", engine_available)
    monkeypatch.setattr(cli, "project_volumes", project_volumes, raising=False)
    return calls


def native_data(settings: Settings) -> None:
    """What a native stack leaves in its state folder after `make up` + `make down`."""
    (Layout(settings.state_dir).postgres_data / "base").mkdir(parents=True)


def compose_data(settings: Settings) -> None:
    """What the Compose runner's `up` leaves where the native runner keeps its state."""
    marker = Layout(settings.state_dir).compose_marker
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(PROJECT + "\n")


PROJECT = example_variables()["COMPOSE_PROJECT_NAME"]
VOLUMES = [f"{PROJECT}_postgres-data", f"{PROJECT}_s3-data"]


@pytest.mark.parametrize(("engine", "expected"), [(True, ComposeRunner), (False, NativeRunner)])
def test_without_data_compose_when_an_engine_answers_else_native(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, engine: bool, expected: type) -> None:
    fake_machine(monkeypatch, engine, [])
    assert isinstance(cli.choose_runner(settings), expected)


def test_native_data_with_an_engine_now_answering_is_not_left_for_an_empty_compose_stack(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    native_data(settings)
    fake_machine(monkeypatch, engine=True, volumes=[])
    with pytest.raises(SettingsError) as refused:
        cli.choose_runner(settings)
    message = str(refused.value)
    assert f"held by the native runner (in {settings.state_dir})" in message
    assert "would start an empty Compose stack" in message
    assert "STACK=native or STACK=compose" in message and str(settings.path) in message
    assert "make up STACK=native" in message


def test_native_data_without_an_engine_stays_native(settings: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    native_data(settings)
    fake_machine(monkeypatch, engine=False, volumes=[])
    assert isinstance(cli.choose_runner(settings), NativeRunner)


def test_compose_volumes_with_an_engine_stay_compose(settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    compose_data(settings)
    fake_machine(monkeypatch, engine=True, volumes=VOLUMES)
    assert isinstance(cli.choose_runner(settings), ComposeRunner)


def test_compose_data_with_the_engine_gone_is_not_left_for_an_empty_native_stack(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    compose_data(settings)
    fake_machine(monkeypatch, engine=False, volumes=[])
    with pytest.raises(SettingsError) as refused:
        cli.choose_runner(settings)
    message = str(refused.value)
    assert f"held by Compose (the Docker volumes of project '{PROJECT}')" in message
    assert "would start an empty native stack" in message and "Start Docker" in message
    assert "STACK=native or STACK=compose" in message


def test_data_with_both_runners_asks_which(settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    native_data(settings)
    fake_machine(monkeypatch, engine=True, volumes=VOLUMES)
    with pytest.raises(SettingsError, match="Both runners hold data"):
        cli.choose_runner(settings)


def test_removed_volumes_no_longer_count_as_compose_data(settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    compose_data(settings)  # the marker says Compose ran; the engine says its volumes are gone
    native_data(settings)
    fake_machine(monkeypatch, engine=True, volumes=[])
    with pytest.raises(SettingsError, match="held by the native runner"):
        cli.choose_runner(settings)


@pytest.mark.parametrize(("stack", "expected"), [("native", NativeRunner),
                                                 ("compose", ComposeRunner)])
def test_an_explicit_choice_wins_over_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               stack: str, expected: type) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env)
    settings = load_settings(env, environ={"STACK": stack,
                                           "STACK_STATE_DIR": str(tmp_path / "state")})
    native_data(settings)
    compose_data(settings)
    calls = fake_machine(monkeypatch, engine=True, volumes=VOLUMES)
    assert isinstance(cli.choose_runner(settings), expected)
    assert "volumes" not in calls

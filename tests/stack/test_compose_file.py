"""The Compose files, checked without a Docker engine: spec, our rules, and parity with the native runner.

Compose and the native runner describe the same services (stack/services.py). These tests hold
docker-compose.yml to that description, to the native runner's commands and environment
(stack/native/programs.py), to `.env.example` and to uv.lock. The one test that needs a Docker
engine brings the stack up where an engine answers and skips, saying so, where none does.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from stack.compose import COMPOSE_FILE, COMPOSE_FILES, compose_files
from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.native.programs import (
    PROGRAMS,
    airflow_environment,
    celery_environment,
    dag_bundles,
    program,
    redis_config,
    service_program,
)
from stack.private import free_port
from stack.services import SERVICES, worker_name
from stack.settings import (
    MAY_BE_EMPTY,
    REPO_ROOT,
    SECRET_GENERATORS,
    Settings,
    example_variables,
    load_settings,
    render_env,
)
from tests.stack.secret_rules import COMPOSE_ALSO, GENERATED, NEVER_FOR_TASKS, SEES, seen

CELERY_FILE = REPO_ROOT / "docker-compose.celery.yml"
MLFLOW_LOGIN_FILE = REPO_ROOT / "docker-compose.mlflow-login.yml"
MODEL_SERVER_LOGIN_FILE = REPO_ROOT / "docker-compose.model-server-login.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# Read-only: Airflow and its tasks never write into a project.
DAG_MOUNT = "./project_template:/opt/airflow/project_template:ro"
PROJECTS_MOUNT = "${PROJECTS_DIR:-./projects}:/opt/airflow/projects:ro"
CELERY_PROFILE = "celery"

# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`.
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_PUBLISHED = re.compile(
    r"^\$\{STACK_BIND_HOST:-(?P<host>[^}]+)\}:\$\{(?P<variable>[A-Z0-9_]+_PORT):-(?P<default>\d+)\}"
    r":(?P<container>\d+)$"
)
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|_KEY|TOKEN")
_URI_CREDENTIALS = re.compile(r"://[^/\s:@]+:(?P<password>[^@\s]+)@")
_PIN = re.compile(r"^==[0-9][0-9A-Za-z.+!-]*$")

# Native settings that name a host path, a host address or a published port: in a container they
# are the container's path, a service name or a fixed container port instead.
CONTAINER_SPECIFIC = {
    "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__API__HOST", "AIRFLOW__API__PORT", "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
    # Compose uses the scheduler's health server for its health check; the native runner does not.
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
    "MLFLOW_TRACKING_URI", "MODEL_SERVER_URL", "S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL",
    "IDS_EDGE_HOST", "IDS_CLOUD_HOST", "IDS_EDGE_IDS_PORT", "IDS_EDGE_API_PORT",
    "IDS_CLOUD_DATA_APP_PORT", "IDS_CLOUD_API_PORT",
    "PROMOTION_LOCK_DB_HOST", "PROMOTION_LOCK_DB_PORT",
}
# Process plumbing of the native runner that a container image provides itself (and where
# `airflow-init` asks the native runner's fork server for `airflow db migrate`).
NATIVE_ONLY = {"PATH", "PYTHONPATH", "AIRFLOW_HOME", "AIRFLOW_FORKSERVER_SOCKET"}


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings from a freshly rendered `.env`, as `make up` writes it."""
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text(render_env())
    return load_settings(path, environ={})


@pytest.fixture(scope="module")
def native(settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The native runner's program of a service, with the backends Compose has (PostgreSQL, MinIO)."""
    backends = Backends("postgres", "minio", postgres_bin="/usr/lib/postgresql/15/bin",
                        postgres_user="postgres", s3_bin="/usr/local/bin/minio")
    layout = Layout(tmp_path_factory.mktemp("state"))
    return lambda name: service_program(name, settings, backends, layout)


def strings(node: object) -> Iterator[str]:
    """Every string value in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def references(path: Path) -> list[re.Match]:
    # `$$` is an escaped dollar: what follows is for the container's shell, not for Compose.
    return [m for text in strings(load_yaml(path)) for m in _REFERENCE.finditer(text.replace("$$", ""))]


def interpolate(text: str, values: dict[str, str]) -> str:
    """What Compose makes of `text` with `values` as its `.env`."""

    def value(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if values.get(name):
            return values[name]
        if op in (":?", "?"):
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    return _REFERENCE.sub(value, text).replace("$$", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping, not a list"
    return {k: str(v) for k, v in env.items()}


def one_shots() -> set[str]:
    return {s.name for s in SERVICES if s.one_shot}


# --- The compose specification -----------------------------------------------------------------------

@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- The same services as stack/services.py ------------------------------------------------------------

def test_services_are_those_of_stack_services(services: dict[str, dict]) -> None:
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {s.name for s in SERVICES if s.backend != "celery"}
    optional = {name: service["profiles"] for name, service in services.items()
                if service.get("profiles")}
    assert optional == {s.name: [CELERY_PROFILE] for s in SERVICES if s.backend == "celery"}
    assert set(optional) == {"redis", "airflow-worker"}


def test_celery_file_only_switches_services_of_the_main_file(services: dict[str, dict]) -> None:
    celery = load_yaml(CELERY_FILE)["services"]
    assert set(celery) <= set(services)
    for name, override in celery.items():
        assert environment(override)["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    airflow = {name for name in services if name.startswith("airflow-")}
    assert set(celery) == airflow, "every Airflow component must run the same executor"


def test_dependencies_are_those_of_stack_services(services: dict[str, dict]) -> None:
    overlay = load_yaml(CELERY_FILE)["services"]
    for service in SERVICES:
        # Those on Celery's services (the scheduler's on Redis) come with the Celery overlay.
        declared = {**(services[service.name].get("depends_on") or {}),
                    **(overlay.get(service.name, {}).get("depends_on") or {})}
        assert set(declared) == set(service.depends_on), service.name


def test_startup_order_is_declared_with_conditions_never_slept_for(services: dict[str, dict]) -> None:
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            expected = ("service_completed_successfully" if dependency in one_shots()
                        else "service_healthy")
            assert isinstance(rule, dict) and rule.get("condition") == expected, (name, dependency)
    for text in strings(services):
        assert not re.search(r"\bsleep\b", text), f"a sleep in the Compose file: {text!r}"


def test_every_long_running_service_has_a_health_check(services: dict[str, dict]) -> None:
    for name, service in services.items():
        if name in one_shots():
            assert service.get("restart") == "no", f"{name} is a one-shot: it must not restart"
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", name


def test_health_checks_walk_the_clients_path(services: dict[str, dict]) -> None:
    mlflow = services["mlflow"]["healthcheck"]["test"]
    assert mlflow[1:] == ["python", "/opt/mlflow/healthcheck.py", "http://127.0.0.1:5000",
                          "mlflow:5000"]
    # Airflow's checks are airflow/healthcheck.py: the public API, then the Task Execution API.
    assert services["airflow-apiserver"]["healthcheck"]["test"][1:] == [
        "python", "/opt/airflow/healthcheck.py", "api-server"]
    assert services["airflow-scheduler"]["healthcheck"]["test"][1:] == [
        "python", "/opt/airflow/healthcheck.py", "scheduler"]
    script = (REPO_ROOT / "airflow" / "healthcheck.py").read_text()
    for url in ("http://127.0.0.1:8080/api/v2/monitor/health",
                "http://127.0.0.1:8080/execution/health", "http://127.0.0.1:8974/health"):
        assert url in script, url
    for name, role in (("airflow-dag-processor", "dag-processor"), ("airflow-triggerer", "triggerer")):
        assert services[name]["healthcheck"]["test"][1:] == [
            "python", "/opt/airflow/healthcheck.py", role]
    assert '"dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"' in script
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["s3"]["healthcheck"]["test"][1:] == ["mc", "ready", "local"]
    assert "/health" in services["model-server"]["healthcheck"]["test"][-1]


# --- Ports, variables and secrets ---------------------------------------------------------------------

def test_published_ports_bind_to_stack_bind_host_through_documented_variables(
        services: dict[str, dict]) -> None:
    documented = example_variables()
    owners: dict[str, str] = {}
    for name, service in services.items():
        for entry in service.get("ports") or []:
            match = _PUBLISHED.match(str(entry))
            assert match, f"{name}: {entry!r} is not ${{STACK_BIND_HOST:-...}}:${{X_PORT:-...}}:port"
            assert match["host"] == documented["STACK_BIND_HOST"] == "127.0.0.1"
            variable = match["variable"]
            assert variable in documented, f"{name} publishes {variable}, unknown to .env.example"
            assert owners.setdefault(variable, name) == name, f"{variable} published twice"


def test_every_port_of_a_service_is_used_by_its_compose_service(services: dict[str, dict]) -> None:
    for service in SERVICES:
        used = {m["name"] for text in strings(services[service.name])
                for m in _REFERENCE.finditer(text)}
        missing = set(service.ports) - used
        assert not missing, f"{service.name} does not use {missing}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_is_documented_with_the_same_default(path: Path) -> None:
    documented = example_variables()
    text = path.read_text()
    assert not re.search(r"(?<!\$)\$(?![${])", text.replace("$$", "")), "use ${VAR}, not $VAR"
    found = references(path)
    assert found
    for match in found:
        name, op = match["name"], match["op"]
        assert name in documented, f"{name} is used by {path.name} but not in .env.example"
        assert op in (":-", ":?"), f"${{{name}}}: give a default (:-) or require it (:?)"
        if op == ":-":
            assert match["arg"] == documented[name], f"{name}: default differs from .env.example"


def secret_variables() -> set[str]:
    return set(SECRET_GENERATORS) | {name for name in example_variables()
                                     if "PASSWORD" in name or name.endswith("_KEY")}


# An optional secret (the tasks' own S3 identity) may be unset: `${NAME:-}`, never a default value.
_OPTIONAL_SECRET = re.compile(r"\$\{(?:" + "|".join(sorted(MAY_BE_EMPTY)) + r"):-\}")


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_secrets_come_only_from_env_and_are_required(path: Path) -> None:
    document = load_yaml(path)
    for match in references(path):
        if match["name"] in secret_variables() - MAY_BE_EMPTY:
            assert match["op"] == ":?", f"{match['name']} is a secret: no default, use :?"
        elif match["name"] in secret_variables():
            assert (match["op"], match["arg"]) == (":-", ""), f"{match['name']}: no default value"
    blocks = [s.get("environment") or {} for s in document["services"].values()]
    blocks += [v for k, v in document.items() if k.startswith("x-") and isinstance(v, dict)]
    for block in blocks:
        for key, value in block.items():
            if _SECRET_KEY.search(key) and not key.endswith("_FILE"):
                assert (re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value))
                        or _OPTIONAL_SECRET.fullmatch(str(value))), (
                    f"{key} must be exactly ${{VARIABLE:?message}}, not {value!r}")
    for text in strings(document):
        for uri in _URI_CREDENTIALS.finditer(text):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", uri["password"]), text
    # A documented default of a secret (the IDS logins) must not appear as a literal either.
    defaults = {example_variables()[name] for name in secret_variables()} - {""}
    assert not defaults & set(strings(document))


def compose_secrets(service: dict) -> set[str]:
    """The generated secrets a Compose service's environment refers to."""
    return {m["name"] for text in environment(service).values()
            for m in _REFERENCE.finditer(text)} & GENERATED


@pytest.mark.parametrize("name", sorted(SEES))
def test_each_service_gets_only_the_secrets_it_needs(name: str, services: dict[str, dict],
                                                     settings: Settings, native) -> None:
    program = native(name)
    assert seen(program.env.values(), settings) == SEES[name], "native runner"
    assert compose_secrets(services[name]) == SEES[name] | COMPOSE_ALSO.get(name, set()), "Compose"


def test_airflow_tasks_get_neither_the_admin_password_nor_the_root_keys(
        compose: dict, services: dict[str, dict], settings: Settings, native) -> None:
    for name in (n for n in SEES if n.startswith("airflow-") and n != "airflow-init"):
        assert not seen(native(name).env.values(), settings) & NEVER_FOR_TASKS, name
        assert native(name).env["AWS_ACCESS_KEY_ID"] != settings.get("S3_ACCESS_KEY"), name
        referred = {m["name"] for text in environment(services[name]).values()
                    for m in _REFERENCE.finditer(text)}
        assert not referred & {"AIRFLOW_ADMIN_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"}, name
    worker = {m["name"] for text in environment(services["airflow-worker"]).values()
              for m in _REFERENCE.finditer(text)}
    assert not worker & {"AIRFLOW_ADMIN_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"}


def test_no_command_line_holds_a_secret(services: dict[str, dict], settings: Settings,
                                        native) -> None:
    for name in PROGRAMS:
        assert not seen(native(name).argv, settings), f"{name}: a secret in `ps`"
    for path in COMPOSE_FILES:
        for name, service in load_yaml(path)["services"].items():
            shown = {key: service[key] for key in ("command", "entrypoint", "healthcheck")
                     if key in service}
            named = {m["name"] for text in strings(shown) for m in _REFERENCE.finditer(text)}
            assert not named & secret_variables(), f"{path.name} {name}: a secret in `ps`"


def test_database_passwords_reach_psql_on_its_input_not_its_command_line(tmp_path: Path) -> None:
    """postgres/init-databases.sh with a psql that records its arguments and its input."""
    fake = tmp_path / "bin" / "psql"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/argv\ncat >> {tmp_path}/stdin\n')
    fake.chmod(0o755)
    passwords = {"AIRFLOW_DB_PASSWORD": secrets.token_urlsafe(24),
                 "MLFLOW_DB_PASSWORD": "it's-" + secrets.token_urlsafe(8),
                 "PROMOTION_LOCK_DB_PASSWORD": secrets.token_urlsafe(24)}
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", **passwords,
           "AIRFLOW_DB_USER": "airflow", "AIRFLOW_DB_NAME": "airflow",
           "MLFLOW_DB_USER": "mlflow", "MLFLOW_DB_NAME": "mlflow",
           "PROMOTION_LOCK_DB_USER": "promotion_lock", "PROMOTION_LOCK_DB_NAME": "promotion_locks"}
    subprocess.run(["bash", str(REPO_ROOT / "postgres" / "init-databases.sh")], env=env,
                   check=True, capture_output=True, timeout=30)
    argv, stdin = (tmp_path / "argv").read_text(), (tmp_path / "stdin").read_text()
    assert argv.count("-d postgres") == 3
    for password in passwords.values():
        assert password not in argv
    assert f"\\set password '{passwords['AIRFLOW_DB_PASSWORD']}'" in stdin
    assert "\\set password 'it''s-" in stdin  # psql's own quoting


def dockerfiles() -> list[Path]:
    return sorted(REPO_ROOT.glob("*/Dockerfile"))


def test_no_secret_literal_in_dockerfiles() -> None:
    assert dockerfiles()
    for path in dockerfiles():
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#"):
                continue
            assert not re.search(r"(?i)(password|secret|token|access_key)\S*\s*[=:]\s*\S", line), (
                f"{path.relative_to(REPO_ROOT)}: {line}")


# --- Images -------------------------------------------------------------------------------------------

def assert_pinned(reference: str, where: str) -> None:
    if "@sha256:" in reference:
        return
    name, _, tag = reference.rpartition(":")
    assert name and "/" not in tag, f"{where}: {reference} has no tag"
    assert tag != "latest", f"{where}: {reference} is not pinned"


def from_images(dockerfile: Path) -> list[str]:
    stages: set[str] = set()
    images = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        words = [w for w in words[1:] if not w.startswith("--")]
        if words[0] not in stages:
            images.append(words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return images


def build_contexts() -> list[str]:
    services = load_yaml(COMPOSE_FILE)["services"]
    return sorted({s["build"] if isinstance(s["build"], str) else s["build"]["context"]
                   for s in services.values() if "build" in s})


def test_service_images_are_pinned(services: dict[str, dict]) -> None:
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "image" in service:
            assert_pinned(service["image"], name)


@pytest.mark.parametrize("context", build_contexts())
def test_built_images_start_from_pinned_images(context: str) -> None:
    dockerfile = REPO_ROOT / context / "Dockerfile"
    assert dockerfile.is_file(), f"{context}/Dockerfile is missing"
    images = from_images(dockerfile)
    assert images, f"{dockerfile} has no FROM line"
    for image in images:
        assert_pinned(image, str(dockerfile.relative_to(REPO_ROOT)))


def locked_versions() -> dict[str, set[str]]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        if "version" in package:
            versions.setdefault(package["name"], set()).add(package["version"])
    return versions


def test_image_versions_are_those_of_uv_lock(services: dict[str, dict]) -> None:
    # What each image installs is the lock itself (tests/stack/test_image_requirements.py); here
    # its base and its tag.
    locked = locked_versions()
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    for context in build_contexts():
        (base,) = from_images(REPO_ROOT / context / "Dockerfile")
        python = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-bookworm", base)
        # A Python that uv.lock was resolved for, so the pinned wheels are the locked ones.
        assert python and SpecifierSet(requires).contains(python.group(1)), (context, base)
    assert services["airflow-apiserver"]["image"].split(":")[1] in locked["apache-airflow"]
    assert services["mlflow"]["image"].split(":")[1] in locked["mlflow"]


# --- Airflow ------------------------------------------------------------------------------------------

def test_dag_folder_is_mounted_into_every_airflow_component(services: dict[str, dict]) -> None:
    for name, service in services.items():
        if name.startswith("airflow-"):
            assert DAG_MOUNT in service["volumes"], name
            assert PROJECTS_MOUNT in service["volumes"], name
            env = environment(service)
            assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/project_template"
            # The same bundles as the native runner, at the container's paths.
            assert json.loads(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"]) == json.loads(
                dag_bundles("/opt/airflow/project_template", "/opt/airflow/projects"))


def test_airflow_components_share_the_common_block(compose: dict,
                                                   services: dict[str, dict]) -> None:
    common = environment(compose["x-airflow-common"])
    for name, service in services.items():
        if name.startswith("airflow-"):
            extra = set(environment(service)) - set(common)
            # Only the init step gets the admin's password: the others pass theirs on to tasks.
            allowed = {"AIRFLOW_ADMIN_PASSWORD"} if name == "airflow-init" else {"DUMB_INIT_SETSID"}
            assert extra <= allowed, (name, extra)
            assert service["image"] == compose["x-airflow-common"]["image"]


def test_airflow_settings_are_the_native_runners(compose: dict, settings: Settings,
                                                 tmp_path: Path) -> None:
    backends = Backends("postgres", "minio")
    expected = airflow_environment(settings, backends, Layout(tmp_path))
    common = {k: interpolate(v, dict(settings.values))
              for k, v in environment(compose["x-airflow-common"]).items()}
    assert set(common) == set(expected) - NATIVE_ONLY
    assert {k for k in common if k.startswith("AIRFLOW__")} == {
        k for k in expected if k.startswith("AIRFLOW__")}
    for key in set(common) - CONTAINER_SPECIFIC:
        assert common[key] == expected[key], key
    assert common["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert_same_database(common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                         expected["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/")
    assert (common["PROMOTION_LOCK_DB_HOST"], common["PROMOTION_LOCK_DB_PORT"]) == ("postgres", "5432")


def assert_same_database(compose_uri: str, native_uri: str) -> None:
    ours, theirs = urlsplit(compose_uri), urlsplit(native_uri)
    assert ours.scheme == theirs.scheme == "postgresql+psycopg2"
    assert (ours.username, ours.password, ours.path) == (theirs.username, theirs.password, theirs.path)
    assert (ours.hostname, ours.port) == ("postgres", 5432)


# --- Every service: the native runner's command and environment ---------------------------------------

def shape(argv: list[str]) -> list[str]:
    """A command line without where things live: paths to their file names, any Python to `python`."""
    words = [Path(a).name if a.startswith("/") else a for a in argv]
    if words and words[0].startswith("python"):
        words[0] = "python"
    return words


@pytest.mark.parametrize("name", sorted(set(PROGRAMS) - {"postgres", "s3", "mlflow", "redis"}))
def test_command_is_the_native_runners(name: str, services: dict[str, dict], native) -> None:
    command = [*services[name].get("entrypoint", []), *services[name]["command"]]
    if name.startswith("airflow-") and command[0] not in ("bash", "python"):
        command = ["airflow", *command]  # the Airflow image's entrypoint runs `airflow <command>`
    if command[:2] == ["python", "/opt/airflow/preimport.py"]:
        # `airflow <command>` once the tasks' libraries are imported; natively the scheduler
        # forked from the fork server, which imports the same list (airflow/forkserver.py).
        command = ["airflow", *command[2:]]
    assert shape(command) == shape(native(name).argv)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_environment_has_every_native_setting(name: str, services: dict[str, dict], native) -> None:
    missing = set(native(name).env) - NATIVE_ONLY - set(environment(services[name]))
    assert not missing, f"{name} lacks {missing}"


def test_peer_logins_reach_only_the_connectors(services: dict[str, dict], native) -> None:
    # The cloud's login at the edge must not reach a client of /proxy (Airflow's tasks).
    connectors = {"ids-edge", "ids-cloud"}
    for name in PROGRAMS:
        assert ("IDS_PEER_EDGE_PASSWORD" in native(name).env) == (name in connectors), name
    for name, service in services.items():
        assert ("IDS_PEER_EDGE_PASSWORD" in environment(service)) == (name in connectors), name


def test_mlflow_server_has_the_native_flags(services: dict[str, dict], settings: Settings,
                                            native) -> None:
    command = [interpolate(str(a), dict(settings.values)) for a in services["mlflow"]["command"]]
    argv = native("mlflow").argv
    # Both start `mlflow server` through mlflow/serve.py (uvicorn run in the CLI's process).
    assert Path(command[1]).name == Path(argv[1]).name == "serve.py"
    assert [a for a in command if a.startswith("--")] == [a for a in argv if a.startswith("--")]
    option = dict(zip(command, command[1:], strict=False))
    native_option = dict(zip(argv, argv[1:], strict=False))
    # The database URI holds a password: from the environment, never on the command line.
    assert "--backend-store-uri" not in command and "--backend-store-uri" not in argv
    assert_same_database(
        interpolate(environment(services["mlflow"])["MLFLOW_BACKEND_STORE_URI"],
                    dict(settings.values)),
        native("mlflow").env["MLFLOW_BACKEND_STORE_URI"])
    assert option["--artifacts-destination"] == native_option["--artifacts-destination"]
    allowed = option["--allowed-hosts"].split(",")
    # Airflow's tasks and the model server, and `make up`'s probe of the published port.
    assert {"mlflow:5000", f"mlflow:{settings.get('MLFLOW_PORT')}",
            f"127.0.0.1:{settings.get('MLFLOW_PORT')}"} <= set(allowed)
    env = environment(services["mlflow"])
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == native("mlflow").env[
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


# --- The CeleryExecutor: the overlay and the `celery` profile against the native runner ------------------

@pytest.fixture(scope="module")
def celery_settings(settings: Settings) -> Settings:
    return Settings({**settings.values, "AIRFLOW_EXECUTOR": "celery"}, settings.path, settings.root)


def test_celery_settings_are_the_native_runners(celery_settings: Settings, tmp_path: Path) -> None:
    values = dict(celery_settings.values)
    overlay = {k: interpolate(v, values)
               for k, v in environment(load_yaml(CELERY_FILE)["services"]["airflow-worker"]).items()}
    native = celery_environment(celery_settings, Backends("postgres", "minio"), Layout(tmp_path))
    assert set(overlay) == set(native)
    assert overlay["AIRFLOW__CORE__EXECUTOR"] == native["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert overlay["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == native[
        "AIRFLOW__CELERY__WORKER_CONCURRENCY"] == celery_settings.get("AIRFLOW_CELERY_WORKER_CONCURRENCY")
    # The broker: Redis with the password of .env, by service name in Compose.
    ours, theirs = urlsplit(overlay["AIRFLOW__CELERY__BROKER_URL"]), urlsplit(
        native["AIRFLOW__CELERY__BROKER_URL"])
    assert ours.scheme == theirs.scheme == "redis"
    assert (ours.username, ours.password, ours.path) == (theirs.username, theirs.password, theirs.path)
    assert ours.password == celery_settings.get("REDIS_PASSWORD")
    assert (ours.hostname, ours.port) == ("redis", 6379)
    assert theirs.port == celery_settings.int("REDIS_PORT")
    # The result backend: Airflow's own database, through SQLAlchemy.
    backend, native_backend = (overlay["AIRFLOW__CELERY__RESULT_BACKEND"],
                               native["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert backend.startswith("db+") and native_backend.startswith("db+")
    assert_same_database(backend.removeprefix("db+"), native_backend.removeprefix("db+"))


def test_native_airflow_runs_celery_only_when_asked(settings: Settings, celery_settings: Settings,
                                                    tmp_path: Path) -> None:
    backends, layout = Backends("postgres", "minio"), Layout(tmp_path)
    local = airflow_environment(settings, backends, layout)
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not any(k.startswith("AIRFLOW__CELERY__") for k in local)
    celery = airflow_environment(celery_settings, backends, layout)
    assert celery.items() >= celery_environment(celery_settings, backends, layout).items()


def test_celery_worker_is_the_native_runners(services: dict[str, dict], celery_settings: Settings,
                                             tmp_path: Path) -> None:
    backends = Backends("postgres", "minio", redis_bin="/usr/bin/redis-server")
    native = program(worker_name(1), celery_settings, backends, Layout(tmp_path))
    compose = services["airflow-worker"]
    # `airflow celery worker` as node `<service>@<host>`: numbered natively, one per container.
    assert shape(["airflow", *compose["command"]]) == [
        "airflow", "celery", "worker", "--celery-hostname", "airflow-worker@%h"]
    assert shape(native.argv) == [
        "airflow", "celery", "worker", "--celery-hostname", "airflow-worker-1@%h",
        "--skip-serve-logs"]  # natively the workers share the log folder; see celery_worker
    assert "airflow-worker@$${HOSTNAME}" in compose["healthcheck"]["test"][-1]
    # Every native setting, but those that tell workers on one host apart (containers have
    # host names of their own).
    worker_only = {"AIRFLOW_WORKER_NAME", "AIRFLOW__CORE__HOSTNAME_CALLABLE"}
    assert native.env["AIRFLOW_WORKER_NAME"] == "airflow-worker-1"
    overlay = environment(load_yaml(CELERY_FILE)["services"]["airflow-worker"])
    missing = set(native.env) - NATIVE_ONLY - worker_only - set(environment(compose)) - set(overlay)
    assert not missing, missing


def test_redis_is_the_native_runners(services: dict[str, dict], celery_settings: Settings,
                                     tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    native = program("redis", celery_settings, Backends("postgres", "minio", redis_bin="redis-server"),
                     layout)
    # The password is in a file (natively) or on stdin (Compose), never on the command line.
    assert native.argv == ["redis-server", str(layout.redis_conf)]
    config = redis_config(celery_settings, layout).splitlines()
    script = services["redis"]["command"][-1]
    for line in ("appendonly yes", "appendfsync everysec"):
        assert line in config and line in script.splitlines()
    assert f"requirepass {celery_settings.get('REDIS_PASSWORD')}" in config
    assert "requirepass $$REDISCLI_AUTH" in script.splitlines()
    assert environment(services["redis"])["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    assert f"bind {celery_settings.bind_host}" in config


def test_data_lives_in_named_volumes(compose: dict, services: dict[str, dict]) -> None:
    wanted = [("postgres", "/var/lib/postgresql/data"), ("s3", "/data"),
              ("airflow-scheduler", "/opt/airflow/logs"), ("airflow-apiserver", "/opt/airflow/auth")]
    for role in ("edge", "cloud"):
        env = environment(services[f"ids-{role}"])
        wanted += [(f"ids-{role}", env["IDS_DATA_DIR"]), (f"ids-{role}", env["IDS_CERT_DIR"])]
    for name, target in wanted:
        sources = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert sources.get(target) in compose["volumes"], f"{name}: {target} is not a named volume"


# --- The logins of MLflow and the model server: overlays against the native runner ---------------------

LOGIN_OVERLAYS = {"MLFLOW_AUTH": MLFLOW_LOGIN_FILE, "MODEL_SERVER_AUTH": MODEL_SERVER_LOGIN_FILE}
# The folder of MLflow's user store: the container's own path (a named volume) natively the state folder.
LOGIN_CONTAINER_SPECIFIC = {"MLFLOW_AUTH_STORE"}


def test_each_overlay_is_added_when_env_switches_it_on(settings: Settings) -> None:
    assert set(COMPOSE_FILES) == {COMPOSE_FILE, CELERY_FILE, *LOGIN_OVERLAYS.values()}
    assert compose_files(settings) == [COMPOSE_FILE]
    for switch, overlay in LOGIN_OVERLAYS.items():
        on = Settings({**settings.values, switch: "basic"}, settings.path, settings.root)
        assert compose_files(on) == [COMPOSE_FILE, overlay]
    every = Settings({**settings.values, "AIRFLOW_EXECUTOR": "celery", "MLFLOW_AUTH": "basic",
                      "MODEL_SERVER_AUTH": "basic"}, settings.path, settings.root)
    assert compose_files(every) == list(COMPOSE_FILES)


@pytest.mark.parametrize("switch", sorted(LOGIN_OVERLAYS))
def test_login_overlay_sets_what_the_native_runner_sets_with_the_login(
        switch: str, services: dict[str, dict], settings: Settings, tmp_path: Path) -> None:
    """The overlay of a login adds to each service exactly what the native runner adds to its
    program when .env switches the login on: the same variables, the same values."""
    on = Settings({**settings.values, switch: "basic"}, settings.path, settings.root)
    backends, layout = Backends("postgres", "minio", redis_bin="redis-server"), Layout(tmp_path)
    overlay = load_yaml(LOGIN_OVERLAYS[switch])["services"]
    assert set(overlay) <= set(services)
    for name in sorted({*PROGRAMS, "airflow-worker"}):
        native = worker_name(1) if name == "airflow-worker" else name
        before = service_program(native, settings, backends, layout).env
        after = service_program(native, on, backends, layout).env
        added = {k: v for k, v in after.items() if before.get(k) != v}
        ours = {k: interpolate(v, dict(on.values))
                for k, v in environment(overlay.get(name, {})).items()}
        assert set(ours) == set(added), name
        for key in set(ours) - LOGIN_CONTAINER_SPECIFIC:
            assert ours[key] == added[key], (name, key)
    # Without the switch, the main file gives none of it (`make up` adds the overlay only then).
    for name, override in overlay.items():
        assert not set(environment(override)) & set(environment(services[name])), name


def test_mlflow_user_store_is_a_named_volume_its_user_owns() -> None:
    overlay = load_yaml(MLFLOW_LOGIN_FILE)
    (volume,) = overlay["services"]["mlflow"]["volumes"]
    source, target = volume.split(":")
    assert source in overlay["volumes"]
    assert environment(overlay["services"]["mlflow"])["MLFLOW_AUTH_STORE"] == target
    # A named volume takes the owner of the image's folder: MLflow's user must be able to write.
    assert f"install -d -o mlflow {target}" in (REPO_ROOT / "mlflow" / "Dockerfile").read_text()


# --- The health checks themselves ---------------------------------------------------------------------

class _FakeMlflow(BaseHTTPRequestHandler):
    """Answers like MLflow 3 told `--allowed-hosts mlflow:5000`: 403 to any other Host header."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status = 200 if self.headers["Host"] == "mlflow:5000" else 403
        if self.server.login and self.headers["Authorization"] != self.server.login:
            status = 401
        self.server.paths.append(self.path)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


def load_mlflow_healthcheck():
    spec = importlib.util.spec_from_file_location("mlflow_healthcheck",
                                                  REPO_ROOT / "mlflow" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_health_check_fails_on_a_refused_host_header() -> None:
    healthcheck = load_mlflow_healthcheck()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeMlflow)
    server.paths, server.login = [], None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert healthcheck.main(["healthcheck.py", base, "mlflow:5000"]) == 0
        assert any(p.startswith("/api/2.0/mlflow/experiments/search") for p in server.paths)
        assert "/api/2.0/mlflow-artifacts/artifacts" in server.paths
        failure = healthcheck.check(base, "elsewhere:5000")
        assert failure and "403" in failure
    finally:
        server.shutdown()
        server.server_close()
    unreachable = healthcheck.check(base, "mlflow:5000", timeout=2)
    assert unreachable and "answered" not in unreachable


def test_mlflow_health_check_logs_in_as_the_admin_when_mlflow_asks_for_a_login(
        monkeypatch: pytest.MonkeyPatch) -> None:
    healthcheck = load_mlflow_healthcheck()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeMlflow)
    password = secrets.token_urlsafe(12)
    server.paths, server.login = [], "Basic " + base64.b64encode(f"mlops:{password}".encode()).decode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert "401" in healthcheck.check(base, "mlflow:5000")
        # The mlflow container's own variables (docker-compose.mlflow-login.yml).
        monkeypatch.setenv("MLFLOW_AUTH", "basic")
        monkeypatch.setenv("MLFLOW_AUTH_ADMIN_USERNAME", "mlops")
        monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", password)
        assert healthcheck.check(base, "mlflow:5000") is None
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ids_edge(tmp_path: Path) -> Iterator[tuple[int, dict[str, str], subprocess.Popen]]:
    """A real mock IDS edge on free ports, with a login that is not the published default."""
    login = {"IDS_API_USER": "probe-admin", "IDS_API_PASSWORD": secrets.token_urlsafe(16)}
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDS_")}
    env.update(login, IDS_EDGE_IDS_PORT=str(free_port()), IDS_EDGE_API_PORT=str(api_port),
               IDS_DATA_DIR=str(tmp_path / "data"), IDS_CERT_DIR=str(tmp_path / "certs"),
               IDS_BIND_HOST="127.0.0.1", IDS_LOG_LEVEL="warning",
               PYTHONPATH=str(REPO_ROOT / "ids-mock"))
    with open(tmp_path / "edge.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ids_mock", "serve", "--role", "edge"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield api_port, login, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_ids_health_check_logs_in_over_https(services: dict[str, dict], ids_edge) -> None:
    api_port, login, process = ids_edge
    test = services["ids-edge"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[-1] == "8090"
    assert services["ids-cloud"]["healthcheck"]["test"][:-1] == test[:-1]
    probe = [sys.executable, *test[2:-1], str(api_port)]
    base_env = {"PATH": os.environ["PATH"]}

    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(probe, env={**base_env, **login}, capture_output=True, timeout=30)
        if result.returncode == 0:
            break
        assert process.poll() is None, "the mock IDS edge exited"
        assert time.monotonic() < deadline, result.stderr.decode()[-2000:]
        time.sleep(0.5)
    wrong = {**login, "IDS_API_PASSWORD": "not-" + login["IDS_API_PASSWORD"]}
    refused = subprocess.run(probe, env={**base_env, **wrong}, capture_output=True, timeout=30)
    assert refused.returncode != 0 and b"401" in refused.stderr

"""Load, validate and create the platform's one `.env`: the single source of ports and secrets."""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = REPO_ROOT / ".env"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

RUNNERS = ("compose", "native", "external")
_URL_SAFE = re.compile(r"^[A-Za-z0-9_.~-]+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class SettingsError(ValueError):
    """A variable of `.env` is missing or malformed; the message says which and what to do."""


def _password() -> str:
    # URL-safe so it can stand in a database URI unescaped, in Compose and natively alike.
    return secrets.token_urlsafe(24)


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


# Every secret `make up` generates when it writes a fresh `.env`.
SECRET_GENERATORS: dict[str, Callable[[], str]] = {
    "POSTGRES_SUPERUSER_PASSWORD": _password,
    "AIRFLOW_DB_PASSWORD": _password,
    "MLFLOW_DB_PASSWORD": _password,
    "PROMOTION_LOCK_DB_PASSWORD": _password,
    "S3_SECRET_KEY": _password,
    "AIRFLOW_ADMIN_PASSWORD": _password,
    "AIRFLOW_FERNET_KEY": _fernet_key,
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(64),  # 86 chars: over the 64 bytes HS512 needs
    "AIRFLOW_API_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "IDS_PEER_EDGE_PASSWORD": _password,
    "REDIS_PASSWORD": _password,
    "MLFLOW_AUTH_PASSWORD": _password,
    "MLFLOW_AUTH_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "MODEL_SERVER_AUTH_PASSWORD": _password,
}

# Secrets only some configurations use: a `.env` written before they existed stays valid until
# the setting that needs them is switched on.
_NEEDED_WHEN = {"REDIS_PASSWORD": ("AIRFLOW_EXECUTOR", "celery"),
                "MLFLOW_AUTH_PASSWORD": ("MLFLOW_AUTH", "basic"),
                "MLFLOW_AUTH_SECRET_KEY": ("MLFLOW_AUTH", "basic"),
                "MODEL_SERVER_AUTH_PASSWORD": ("MODEL_SERVER_AUTH", "basic")}

# Values a fresh `.env` takes from the machine rather than from `.env.example`: Airflow's containers
# run as the user's own uid (as the official quick start does), so that what they write into the
# project folders is the user's, not uid 50000's.
FIRST_RUN_VALUES: dict[str, Callable[[], str]] = {"AIRFLOW_UID": lambda: str(os.getuid())}


def _check_port(name: str, value: str) -> None:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingsError(f"{name}={value!r} is not a port number (1-65535). Fix it in .env.")


def _check_positive_int(name: str, value: str) -> None:
    if not value.isdigit() or int(value) <= 0:
        raise SettingsError(f"{name}={value!r} must be a whole number above 0. Fix it in .env.")


def _check_non_negative_int(name: str, value: str) -> None:
    if not value.isdigit():
        raise SettingsError(f"{name}={value!r} must be a whole number, 0 or more. Fix it in .env.")


def _check_url_safe(name: str, value: str) -> None:
    if not _URL_SAFE.match(value):
        raise SettingsError(
            f"{name} may only hold letters, digits and _ . ~ - (it goes into a database or S3 URI "
            f"unescaped). Change it in .env, or delete its value and run `make up` to generate one."
        )


def _check_name(name: str, value: str) -> None:
    if not _NAME.match(value):
        raise SettingsError(
            f"{name}={value!r} must start with a letter or _ and hold only letters, digits, _ and -."
        )


def _check_project_name(name: str, value: str) -> None:
    if not _PROJECT_NAME.match(value):
        raise SettingsError(f"{name}={value!r}: Compose project names hold only lowercase letters, "
                            "digits, _ and -, and start with a letter or digit.")


def _check_fernet(name: str, value: str) -> None:
    try:
        ok = len(base64.urlsafe_b64decode(value.encode())) == 32
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise SettingsError(
            f"{name} is not a Fernet key (32 url-safe base64-encoded bytes). Generate one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
        )


def _check_jwt_secret(name: str, value: str) -> None:
    if len(value.encode()) < 64:
        raise SettingsError(
            f"{name} is {len(value.encode())} bytes; Airflow signs JWTs with HS512, which needs 64 "
            f"or more. Delete its value in .env and run `make up` to generate one."
        )


def _check_runner(name: str, value: str) -> None:
    if value and value not in RUNNERS:
        raise SettingsError(f"{name}={value!r}: use one of {', '.join(RUNNERS)}, or leave it empty.")


_CHOICES = {"AIRFLOW_EXECUTOR": ("local", "celery"), "MLFLOW_AUTH": ("off", "basic"),
            "MODEL_SERVER_AUTH": ("off", "basic"), "INFERENCE_LOG": ("on", "off")}


def _check_choice(name: str, value: str) -> None:
    if value not in _CHOICES[name]:
        raise SettingsError(f"{name}={value!r}: use one of {', '.join(_CHOICES[name])}.")


def _validators(name: str) -> list[Callable[[str, str], None]]:
    """The checks a variable must pass, chosen by its name."""
    checks: list[Callable[[str, str], None]] = []
    if name.endswith("_PORT"):
        checks.append(_check_port)
    if name in {"STACK_HEALTH_TIMEOUT", "IDS_LOCKOUT_ATTEMPTS", "IDS_LOCKOUT_MINUTES",
                "IDS_MAX_PAYLOAD_MB", "AIRFLOW_PARALLELISM",
                "TASK_RETRY_DELAY_SECONDS", "AIRFLOW_CELERY_WORKERS", "AIRFLOW_TASK_HEARTBEAT_TIMEOUT",
                "AIRFLOW_CELERY_WORKER_CONCURRENCY"}:
        checks.append(_check_positive_int)
    if name in {"POSTGRES_SUPERUSER_PASSWORD", "AIRFLOW_DB_PASSWORD", "MLFLOW_DB_PASSWORD",
                "PROMOTION_LOCK_DB_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY", "REDIS_PASSWORD",
                "MLFLOW_AUTH_PASSWORD"}:
        checks.append(_check_url_safe)
    if name in {"AIRFLOW_DB_NAME", "AIRFLOW_DB_USER", "MLFLOW_DB_NAME", "MLFLOW_DB_USER",
                "PROMOTION_LOCK_DB_NAME", "PROMOTION_LOCK_DB_USER", "AIRFLOW_ADMIN_USER", "MLFLOW_AUTH_USER",
                "MODEL_SERVER_AUTH_USER"}:
        checks.append(_check_name)
    if name in {"TASK_RETRIES", "AIRFLOW_UID"}:  # uid 0: root's own files
        checks.append(_check_non_negative_int)
    if name == "COMPOSE_PROJECT_NAME":
        checks.append(_check_project_name)
    if name == "AIRFLOW_FERNET_KEY":
        checks.append(_check_fernet)
    if name == "AIRFLOW_JWT_SECRET":
        checks.append(_check_jwt_secret)
    if name == "STACK":
        checks.append(_check_runner)
    if name in _CHOICES:
        checks.append(_check_choice)
    return checks


# Variables that may be empty in a valid `.env`.
MAY_BE_EMPTY = {"STACK", "S3_DATA_ACCESS_KEY", "S3_DATA_SECRET_KEY", "STACK_SERVER_HOST"}


def example_variables(example: Path = ENV_EXAMPLE) -> dict[str, str]:
    """The variables `.env.example` documents, with their default values."""
    return {k: v or "" for k, v in dotenv_values(example).items()}


@dataclass(frozen=True)
class Settings:
    """The validated contents of `.env`, with the URLs every component derives from it."""

    values: Mapping[str, str]
    path: Path = ENV_FILE
    root: Path = field(default=REPO_ROOT)

    def get(self, name: str) -> str:
        try:
            return self.values[name]
        except KeyError:
            raise SettingsError(f"{name} is not set in {self.path}; see .env.example.") from None

    def int(self, name: str) -> int:
        return int(self.get(name))

    @property
    def runner(self) -> str:
        return self.values.get("STACK", "")

    @property
    def bind_host(self) -> str:
        return self.get("STACK_BIND_HOST")

    @property
    def client_host(self) -> str:
        # A worker machine reaches the stack's machine; clients on that machine reach a wildcard
        # bind through loopback.
        if self.values.get("STACK_SERVER_HOST"):
            return self.values["STACK_SERVER_HOST"]
        host = self.bind_host
        return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host

    @property
    def celery(self) -> bool:
        """Whether Airflow runs the CeleryExecutor (Redis broker, workers) or the LocalExecutor."""
        return self.get("AIRFLOW_EXECUTOR") == "celery"

    def _basic_auth(self, prefix: str) -> tuple[str, str] | None:
        """`<prefix>_AUTH_USER` and `_PASSWORD` when `<prefix>_AUTH=basic`, else None."""
        if self.values.get(f"{prefix}_AUTH", "off") != "basic":  # off: .env.example's default
            return None
        return self.get(f"{prefix}_AUTH_USER"), self.get(f"{prefix}_AUTH_PASSWORD")

    @property
    def mlflow_auth(self) -> tuple[str, str] | None:
        """MLflow's basic-auth login (user, password), None when MLflow has no login."""
        return self._basic_auth("MLFLOW")

    @property
    def mlflow_login(self) -> dict[str, str]:
        """The same login as MLflow's client variables; empty without a login."""
        if self.mlflow_auth is None:
            return {}
        user, password = self.mlflow_auth
        return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}

    @property
    def model_server_auth(self) -> tuple[str, str] | None:
        """The model server's basic-auth login (user, password), None when it asks for none."""
        return self._basic_auth("MODEL_SERVER")

    @property
    def model_server_login(self) -> dict[str, str]:
        """The same login as the variables the server and its clients read; empty without one."""
        if self.model_server_auth is None:
            return {}
        user, password = self.model_server_auth
        return {"MODEL_SERVER_AUTH_USER": user, "MODEL_SERVER_AUTH_PASSWORD": password}

    @property
    def broker_url(self) -> str:
        return (f"redis://default:{self.get('REDIS_PASSWORD')}@{self.client_host}:"
                f"{self.int('REDIS_PORT')}/0")

    @property
    def state_dir(self) -> Path:
        path = Path(self.get("STACK_STATE_DIR"))
        return path if path.is_absolute() else self.root / path

    @property
    def projects_dir(self) -> Path:
        path = Path(self.get("PROJECTS_DIR"))
        return path if path.is_absolute() else self.root / path

    @property
    def health_timeout(self) -> float:
        return float(self.get("STACK_HEALTH_TIMEOUT"))

    def url(self, port_variable: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.client_host}:{self.int(port_variable)}"

    @property
    def airflow_url(self) -> str:
        return self.url("AIRFLOW_PORT")

    @property
    def mlflow_url(self) -> str:
        return self.url("MLFLOW_PORT")

    @property
    def s3_url(self) -> str:
        return self.url("S3_PORT")

    @property
    def model_server_url(self) -> str:
        return self.url("MODEL_SERVER_PORT")

    def ports(self) -> dict[str, int]:
        """Every port variable and its value."""
        return {k: int(v) for k, v in self.values.items() if k.endswith("_PORT")}


def validate(values: Mapping[str, str], path: Path = ENV_FILE,
             example: Path = ENV_EXAMPLE, unused: frozenset[str] = frozenset()) -> None:
    """Raise SettingsError naming the first missing or malformed variable (`unused` are not read)."""
    for name in example_variables(example):
        setting, wanted = _NEEDED_WHEN.get(name, (None, None))
        if name in unused or (setting and values.get(setting) != wanted and not values.get(name)):
            continue
        value = values.get(name)
        if value is None or (value == "" and name not in MAY_BE_EMPTY):
            if name not in SECRET_GENERATORS:
                hint = "copy its line from .env.example"
            elif value is None:
                # A secret added after this .env was written: `make up` adds it, other commands don't.
                hint = "run `make up`, which adds a fresh one"
            else:
                hint = "delete its line and run `make up` to generate it"
            raise SettingsError(f"{name} is missing or empty in {path}: {hint}.")
        for check in _validators(name):
            check(name, value)
    ports: dict[int, str] = {}
    for name, value in values.items():
        if name.endswith("_PORT") and name in example_variables(example):
            other = ports.setdefault(int(value), name)
            if other != name:
                raise SettingsError(f"{name} and {other} are both {value}: give each its own port.")


def render_env(example: Path = ENV_EXAMPLE) -> str:
    """The text of a fresh `.env`: `.env.example` with every secret and machine value filled in."""
    lines = []
    for line in example.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            if name in SECRET_GENERATORS and not value:
                line = f"{name}={SECRET_GENERATORS[name]()}"
            elif name in FIRST_RUN_VALUES:
                line = f"{name}={FIRST_RUN_VALUES[name]()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def ensure_env_file(path: Path = ENV_FILE, example: Path = ENV_EXAMPLE) -> bool:
    """Write `.env` with fresh secrets when it is missing; never touch an existing one.

    Returns True when the file was created.
    """
    if path.exists():
        return False
    text = render_env(example)
    # O_EXCL: never overwrite, even if another `make up` raced us here.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def add_missing_secrets(path: Path = ENV_FILE, example: Path = ENV_EXAMPLE) -> list[str]:
    """Append a fresh value for each secret `.env.example` documents that `path` has no line for.

    A secret added to the platform after `.env` was written would otherwise stop `make up`; the
    lines already there are never changed. Returns the names added.
    """
    present = dotenv_values(path)
    missing = [name for name in example_variables(example)
               if name in SECRET_GENERATORS and name not in present]
    if missing:
        text = path.read_text()
        with open(path, "a") as handle:
            handle.write(("" if text.endswith("\n") or not text else "\n")
                         + "# Added by `make up`: secrets the platform needs since this file was written.\n"
                         + "".join(f"{name}={SECRET_GENERATORS[name]()}\n" for name in missing))
    return missing


def load_settings(path: Path = ENV_FILE, environ: Mapping[str, str] | None = None,
                  example: Path = ENV_EXAMPLE, secrets: frozenset[str] | None = None) -> Settings:
    """Read `.env`, let the process environment override it (as Compose does), and validate.

    `secrets`: the only secrets this machine's role needs (a Celery worker's); the others are
    neither required nor passed on, and stay empty.
    """
    path = path.resolve()  # supervisord and the services run from other folders
    if not path.exists():
        raise SettingsError(f"{path} does not exist: run `make up` (it writes one) or copy .env.example.")
    environ = os.environ if environ is None else environ
    values = {k: v or "" for k, v in dotenv_values(path).items()}
    for name, default in example_variables(example).items():
        if name in environ:
            values[name] = environ[name]
        elif name not in values and name not in SECRET_GENERATORS:
            # A setting added after this .env was written: its documented default, as Compose's
            # `${NAME:-default}` does. Secrets have no default and must be in the file.
            values[name] = default
    unused = frozenset() if secrets is None else frozenset(SECRET_GENERATORS) - secrets
    for name in unused:
        values[name] = ""
    validate(values, path, example, unused)
    return Settings(values=values, path=path, root=path.parent)

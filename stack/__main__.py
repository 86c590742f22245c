"""`python -m stack up|down|status|logs|clean`: the commands behind `make up` and friends."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stack.compose import ComposeRunner, engine_available, project_volumes
from stack.native.runner import NativeRunner
from stack.preflight import PreflightError, check_exposure
from stack.settings import (
    ENV_FILE,
    Settings,
    SettingsError,
    add_missing_secrets,
    ensure_env_file,
    load_settings,
)
from stack.startup import StartError
from stack.worker import run_worker, worker_env_text


class RunnerChoiceError(SettingsError):
    """Data lives with one runner, but without a choice `make up` would start the other, empty."""


def choose_runner(settings: Settings) -> NativeRunner | ComposeRunner:
    """STACK=compose|native wins; otherwise Compose when a Docker engine answers, else native.

    Without a choice, the data decides too: when it lives with the runner the default would not
    pick, this refuses and says how to choose, rather than start an empty stack.
    """
    wanted = settings.runner
    if wanted == "external":
        sys.exit("STACK=external means the stack runs elsewhere: there is nothing to manage here.")
    native = NativeRunner(settings)
    if wanted == "native" or (not wanted and native.supervisor.running()):
        return native
    compose = ComposeRunner(settings)
    if wanted == "compose":
        if not engine_available():
            sys.exit("STACK=compose, but no Docker engine answers (`docker info` fails). Start "
                     "Docker, or use STACK=native.")
        return compose
    engine = engine_available()
    default = compose if engine else native
    holders = [runner for runner, holds in (
        (native, native.layout.holds_data()),
        (compose, bool(project_volumes(settings.get("COMPOSE_PROJECT_NAME"))) if engine
         else compose.marker.exists())) if holds]
    if holders in ([], [default]):
        return default
    raise RunnerChoiceError(_data_elsewhere(settings, holders, engine))


def _data_elsewhere(settings: Settings, holders: list, engine: bool) -> str:
    where = {"native": f"the native runner (in {settings.state_dir})",
             "compose": f"Compose (the Docker volumes of project "
                        f"{settings.get('COMPOSE_PROJECT_NAME')!r})"}
    held = " and ".join(where[runner.name] for runner in holders)
    if len(holders) > 1:
        situation = f"Both runners hold data of this platform: {held}."
    elif engine:
        situation = (f"This platform's runs and models are held by {held}, but a Docker engine "
                     f"now answers: `make up` would start an empty Compose stack.")
    else:
        situation = (f"This platform's runs and models are held by {held}, but no Docker engine "
                     f"answers: `make up` would start an empty native stack. Start Docker to use "
                     f"them again, or choose.")
    return (f"{situation} Choose the runner with STACK=native or STACK=compose in "
            f"{settings.path} (or for one command: `make up STACK=native`); the other runner's "
            f"data is kept.")


def _login(auth: tuple[str, str] | None, password_variable: str, path: Path) -> str:
    return "" if auth is None else f"   (user {auth[0]!r}, password: {password_variable} in {path})"


def print_summary(settings) -> None:
    s = settings
    print(f"""
The platform is up.
  Airflow UI and REST API  {s.airflow_url}   (user {s.get('AIRFLOW_ADMIN_USER')!r}, password: \
AIRFLOW_ADMIN_PASSWORD in {s.path})
  MLflow UI and registry   {s.mlflow_url}{_login(s.mlflow_auth, "MLFLOW_AUTH_PASSWORD", s.path)}
  Model server (champion)  {s.model_server_url}/invocations\
{_login(s.model_server_auth, "MODEL_SERVER_AUTH_PASSWORD", s.path)}
  S3 API                   {s.s3_url}   (keys: S3_ACCESS_KEY / S3_SECRET_KEY in {s.path})
  IDS cloud data app       {s.url('IDS_CLOUD_DATA_APP_PORT', 'https')}/proxy
  IDS edge IDS endpoint    {s.url('IDS_EDGE_IDS_PORT', 'https')}/data
Next: `make demo` runs the example pipeline, `make status` checks every service, `make down` stops.""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("--env-file", type=Path, default=ENV_FILE,
                        help="the settings file (default: the repository's .env)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every service and wait until each is ready")
    sub.add_parser("down", help="stop every service, keep the data")
    sub.add_parser("status", help="show each service's state and readiness")
    logs = sub.add_parser("logs", help="follow the logs of one service or all")
    logs.add_argument("service", nargs="?")
    clean = sub.add_parser("clean", help="stop and delete all data")
    clean.add_argument("--yes", action="store_true", help="do not ask")
    sub.add_parser("env", help="write .env with fresh secrets if it is missing")
    worker = sub.add_parser("worker", help="run one more Celery worker of a stack on another "
                                           "machine, in the foreground (README: scale-out)")
    worker.add_argument("--name", help="the worker's name (default: this machine's host name)")
    worker_env = sub.add_parser("worker-env", help="print the .env of a worker machine (secrets!)")
    worker_env.add_argument("server", help="the address at which workers reach this machine")
    args = parser.parse_args(argv)

    try:
        if args.command == "worker":
            run_worker(args.env_file, args.name)
        if args.command in ("up", "env"):
            if ensure_env_file(args.env_file):
                print(f"Wrote {args.env_file} with freshly generated secrets (it is never overwritten).")
            for name in add_missing_secrets(args.env_file):
                print(f"Added {name} to {args.env_file}: a secret the platform needs since it was written.")
        settings = load_settings(args.env_file)
        if args.command == "env":
            return 0
        if args.command == "worker-env":
            print(worker_env_text(settings, args.server), end="")
            return 0
        runner = choose_runner(settings)
        if args.command == "up":
            check_exposure(settings)
            t0 = time.monotonic()
            if not runner.up():
                return 1
            print(f"\nAll services ready in {time.monotonic() - t0:.1f}s ({runner.name} runner).")
            print_summary(settings)
        elif args.command == "down":
            runner.down()
        elif args.command == "status":
            return 0 if runner.status() else 1
        elif args.command == "logs":
            runner.logs(args.service)
        elif args.command == "clean":
            if not args.yes:
                answer = input(f"Delete ALL data of the {runner.name} stack (databases, artifacts, "
                               f"logs)? Type 'yes': ")
                if answer.strip().lower() != "yes":
                    print("Nothing deleted.")
                    return 1
            runner.clean()
    except (SettingsError, PreflightError, StartError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

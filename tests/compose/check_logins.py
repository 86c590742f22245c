"""A live check of the Compose stack with both logins on: `python -m tests.compose.check_logins`.

With MLFLOW_AUTH=basic and MODEL_SERVER_AUTH=basic in a private `.env`: `make up`'s Compose runner
(which adds the login overlays), `make demo`'s run of the template's DAG (its tasks log in to MLflow,
its `deploy` task to the model server), then the logins from the host: anonymous and wrong logins
refused, the model server's health open, the champion served. Not part of a suite (it starts a
whole Compose stack of its own, about 15 minutes on a loaded machine); exit status 0 when all hold.
"""

import os
import shutil
import subprocess
import sys
import time

import requests

from stack.airflow_api import AirflowAPI
from stack.compose import compose_files
from stack.demo import run_demo
from stack.private import make_private_folder, write_private_env
from stack.settings import REPO_ROOT, load_settings
from tests.compose.engine import ensure_engine
from tests.compose.images import prepare_images


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main() -> int:
    folder = make_private_folder("mlops-login-")
    (folder / "projects").mkdir()
    env_file = write_private_env(folder, STACK="compose", MLFLOW_AUTH="basic", MODEL_SERVER_AUTH="basic",
                                 PROJECTS_DIR=str(folder / "projects"), AIRFLOW_UID=str(os.getuid()),
                                 COMPOSE_PROJECT_NAME=f"mlops-login-{folder.name[-8:].lower()}",
                                 TASK_RETRY_DELAY_SECONDS="4")
    settings = load_settings(env_file, environ={})
    say(f"env {env_file}; files {[p.name for p in compose_files(settings)]}")
    started = time.monotonic()
    engine = ensure_engine()
    os.environ.update(engine.env)
    failures = []
    try:
        prepare_images(engine, env_file)
        say(f"engine and images ready in {time.monotonic() - started:.0f}s")

        def cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
            t0 = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "stack", "--env-file", str(env_file), *args],
                                    cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
            say(f"stack {' '.join(args)}: exit {result.returncode} in {time.monotonic() - t0:.0f}s\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
            return result

        if cli("up").returncode != 0:
            failures.append("make up")
            files = [a for p in compose_files(settings) for a in ("-f", str(p))]
            for service in ("mlflow", "model-server"):
                logs = engine.docker("compose", "--project-directory", str(REPO_ROOT), *files,
                                     "--env-file", str(env_file), "logs", "--tail", "60", service,
                                     capture_output=True, text=True, check=False)
                say(f"--- {service} log:\n{logs.stdout}{logs.stderr}")
            inspect = engine.docker("inspect", "--format", "{{json .State.Health}}",
                                    f"{settings.get('COMPOSE_PROJECT_NAME')}-mlflow-1",
                                    capture_output=True, text=True, check=False)
            say(f"--- mlflow health: {inspect.stdout[-3000:]}")
        else:
            t0 = time.monotonic()
            outcome = run_demo(settings, AirflowAPI.from_settings(settings), timeout=1500,
                               out=lambda line: say(f"demo: {line}"))
            say(f"demo: exit {outcome} in {time.monotonic() - t0:.0f}s")
            if outcome != 0:
                failures.append("make demo")
            s = settings
            search, one = f"{s.mlflow_url}/api/2.0/mlflow/experiments/search", {"max_results": 1}
            served = s.model_server_url
            checks = {
                "mlflow anonymous -> 401":
                    requests.get(search, params=one, timeout=30).status_code == 401,
                "mlflow wrong login -> 401": requests.get(
                    search, params=one, timeout=30,
                    auth=(s.get("MLFLOW_AUTH_USER"), "nope")).status_code == 401,
                "mlflow login -> 200":
                    requests.get(search, params=one, timeout=30, auth=s.mlflow_auth).status_code == 200,
                "model-server /health anonymous -> 200":
                    requests.get(f"{served}/health", timeout=30).status_code == 200,
                "model-server /models anonymous -> 401":
                    requests.get(f"{served}/models", timeout=30).status_code == 401,
                "model-server /invocations anonymous -> 401":
                    requests.post(f"{served}/invocations", json={}, timeout=30).status_code == 401,
            }
            listed = requests.get(f"{s.model_server_url}/models", timeout=30, auth=s.model_server_auth)
            say(f"/models with login: {listed.status_code} {listed.text[:400]}")
            checks["model-server /models login -> 200, champion served, no MLflow error"] = (
                listed.status_code == 200
                and all(m["version"] and not m["last_error"] for m in listed.json()["models"]))
            for what, ok in checks.items():
                say(f"{'OK  ' if ok else 'FAIL'} {what}")
                if not ok:
                    failures.append(what)
            files = [a for p in compose_files(settings) for a in ("-f", str(p))]
            ps = engine.docker("compose", "--project-directory", str(REPO_ROOT), *files, "--env-file",
                               str(env_file), "ps", "--format", "{{.Service}} {{.State}} {{.Health}}",
                               capture_output=True, text=True, check=False)
            say("containers:\n" + ps.stdout)
    finally:
        files = [a for p in compose_files(settings) for a in ("-f", str(p))]
        engine.docker("compose", "--project-directory", str(REPO_ROOT), *files, "--env-file",
                      str(env_file), "down", "--volumes", check=False, capture_output=True)
        engine.stop()
        shutil.rmtree(folder, ignore_errors=True)
        say(f"done in {time.monotonic() - started:.0f}s; failures: {failures or 'none'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

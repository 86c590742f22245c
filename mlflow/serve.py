"""`mlflow server`, with its web server running in place of the CLI process, not beside it.

MLflow's CLI prepares the stores and the server's environment, then starts uvicorn as a child and
only waits for it: a second full Python process (about 180 MB PSS) doing nothing. Exec-ing the
command in its place keeps all of MLflow's own start-up logic and drops that process. Both
runners start MLflow with `python mlflow/serve.py <mlflow server options>`, and ask for its login
the same way, by environment: MLFLOW_AUTH=basic runs MLflow's basic-auth app (below).
"""

import os
import sys
from pathlib import Path

import mlflow.server

HERE = Path(__file__).resolve().parent


def _exec_in_place(cmd, extra_env=None, **_options):
    cmd = list(cmd)
    env = {**os.environ, **(extra_env or {})}
    if cmd[:3] == [sys.executable, "-m", "uvicorn"]:
        # The same app (MLflow's own, or its basic-auth factory), telling clients to move artifacts
        # through this server: proxied_app.py wraps the target uvicorn was given.
        env["PROXIED_APP_TARGET"] = cmd[-1]
        cmd[-1] = "proxied_app:create_app" if "--factory" in cmd else "proxied_app:app"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    os.execvpe(cmd[0], cmd, env)


# MLflow's basic-auth app: users only read what they are not granted (READ); the login of .env is
# the admin (MLflow's own MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD). A checked login is cached for a
# minute: without that, every request hashes the password anew (PBKDF2); MLflow runs one server
# process here, so no other process could hold a stale entry.
BASIC_AUTH_CONFIG = """[mlflow]
default_permission = READ
database_uri = sqlite:///{database}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
auth_cache_ttl_seconds = 60
"""


def basic_auth_options(environ: dict) -> list[str]:
    """MLFLOW_AUTH=basic: the options of MLflow's basic-auth app, its user store and settings in
    the folder MLFLOW_AUTH_STORE (written here, and named to MLflow in `environ`); else none."""
    if environ.get("MLFLOW_AUTH", "off") != "basic":
        return []
    if not environ.get("MLFLOW_AUTH_STORE"):
        raise SystemExit("MLFLOW_AUTH=basic needs MLFLOW_AUTH_STORE: the folder that keeps the "
                         "basic-auth app's users (basic_auth.db) and settings.")
    store = Path(environ["MLFLOW_AUTH_STORE"])
    store.mkdir(parents=True, exist_ok=True)
    config = store / "basic_auth.ini"
    config.write_text(BASIC_AUTH_CONFIG.format(database=store / "basic_auth.db"))
    environ["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    return ["--app-name", "basic-auth"]


# The name `mlflow server` calls to start its web server (mlflow.server._run_server).
mlflow.server._exec_cmd = _exec_in_place

if __name__ == "__main__":
    from mlflow.cli import cli

    cli(["server", *sys.argv[1:], *basic_auth_options(os.environ)], prog_name="mlflow")

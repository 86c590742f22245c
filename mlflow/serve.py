"""`mlflow server`, with its web server running in the CLI's own process, not beside it.

MLflow's CLI prepares the stores and the server's environment (on an empty database: its
migrations), then starts uvicorn as a child and only waits for it: a second full Python process
(about 180 MB PSS) doing nothing. Running uvicorn in this process instead keeps all of MLflow's own
start-up logic, drops that process, and imports MLflow once instead of twice (4 CPU-seconds of the
start), with the stores the CLI opened reused by the app. Both runners start MLflow with
`python mlflow/serve.py <mlflow server options>`, and ask for its login the same way, by
environment: MLFLOW_AUTH=basic runs MLflow's basic-auth app (below).
"""

import os
import sys
from pathlib import Path

import mlflow.server

HERE = Path(__file__).resolve().parent


def _serve_in_place(cmd, extra_env=None, **_options):
    """Run the command `mlflow server` would start as a child (`python -m uvicorn ... APP`) here.

    uvicorn's own command line runs in this process with the environment MLflow meant for the
    child; it serves our app (proxied_app.py), which wraps the target MLflow chose (its own app, or
    the basic-auth app's factory) and tells clients to move artifacts through this server. Any
    other server command is exec'd in place, as before.
    """
    cmd = list(cmd)
    os.environ.update(extra_env or {})
    if cmd[:3] != [sys.executable, "-m", "uvicorn"]:
        os.execvpe(cmd[0], cmd, dict(os.environ))
    os.environ["PROXIED_APP_TARGET"] = cmd[-1]
    cmd[-1] = "proxied_app:create_app" if "--factory" in cmd else "proxied_app:app"
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from uvicorn.main import main as uvicorn_main

    uvicorn_main(args=cmd[3:], prog_name="uvicorn")  # exits when the server stops


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
mlflow.server._exec_cmd = _serve_in_place

if __name__ == "__main__":
    from mlflow.cli import cli

    cli(["server", *sys.argv[1:], *basic_auth_options(os.environ)], prog_name="mlflow")

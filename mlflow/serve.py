"""`mlflow server`, with its web server running in place of the CLI process, not beside it.

MLflow's CLI prepares the stores and the server's environment, then starts uvicorn as a child and
only waits for it: a second full Python process (about 180 MB PSS) doing nothing. Exec-ing the
command in its place keeps all of MLflow's own start-up logic and drops that process. Both
runners start MLflow with `python mlflow/serve.py <mlflow server options>`.
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


# The name `mlflow server` calls to start its web server (mlflow.server._run_server).
mlflow.server._exec_cmd = _exec_in_place

if __name__ == "__main__":
    from mlflow.cli import cli

    cli(["server", *sys.argv[1:]], prog_name="mlflow")

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
DEFAULT_APP = "mlflow.server.fastapi_app:app"


def _exec_in_place(cmd, extra_env=None, **_options):
    cmd = list(cmd)
    env = {**os.environ, **(extra_env or {})}
    if cmd[-1] == DEFAULT_APP:
        # The same app, telling clients to move artifacts through this server (proxied_app.py).
        cmd[-1] = "proxied_app:app"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    os.execvpe(cmd[0], cmd, env)


# The name `mlflow server` calls to start its web server (mlflow.server._run_server).
mlflow.server._exec_cmd = _exec_in_place

if __name__ == "__main__":
    from mlflow.cli import cli

    cli(["server", *sys.argv[1:]], prog_name="mlflow")

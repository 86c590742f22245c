"""Container health check of the MLflow server: answer the API calls its clients make, as they make them.

`/health` is not enough: MLflow 3's host-header check answers 403 to API calls addressed to a
host name it was not told about, while `/health` still says OK. So this sends the Host header
Airflow's tasks send (`mlflow:5000`), and lists the artifact store's root to prove the server
reaches S3 with its credentials; with MLflow's login on, as its admin (MLFLOW_AUTH_ADMIN_USERNAME
and _PASSWORD, the server's own variables). Usage: `python healthcheck.py [BASE_URL] [HOST_HEADER]`.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request

PATHS = (
    "/api/2.0/mlflow/experiments/search?max_results=1",
    "/api/2.0/mlflow-artifacts/artifacts",
)


def _login_header() -> dict[str, str]:
    user, password = (os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME"),
                      os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"))
    if os.environ.get("MLFLOW_AUTH") != "basic" or not (user and password):
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def check(base_url: str, host_header: str, timeout: float = 5) -> str | None:
    """None when every call answers 200, else what failed."""
    for path in PATHS:
        request = urllib.request.Request(base_url + path,
                                         headers={"Host": host_header, **_login_header()})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            return f"{path}: {error}"
        if status != 200:
            return f"{path} with Host: {host_header} answered {status}"
    return None


def main(argv: list[str]) -> int:
    base_url = argv[1] if len(argv) > 1 else "http://127.0.0.1:5000"
    host_header = argv[2] if len(argv) > 2 else "mlflow:5000"
    failure = check(base_url.rstrip("/"), host_header)
    if failure:
        print(f"mlflow unhealthy: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

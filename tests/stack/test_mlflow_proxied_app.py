"""The tracking server tells its clients to move artifacts through it, never by presigned URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.settings import REPO_ROOT

# What `mlflow server --serve-artifacts --artifacts-destination s3://...` sets for its app.
PAYLOAD = """
import json, importlib
for name in __import__("sys").argv[1].split(","):
    importlib.import_module(name)
from mlflow.server import server_info_api  # what the server-info route calls
print(json.dumps(server_info_api.build_server_info_payload()))
"""


def server_info(tmp_path: Path, app_module: str, **extra_env: str) -> dict:
    env = {**os.environ,
           "_MLFLOW_SERVER_FILE_STORE": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
           "_MLFLOW_SERVER_ARTIFACT_DESTINATION": "s3://bucket/",
           "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",
           "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "MLFLOW_S3_ENDPOINT_URL": "http://s3:9000",
           "PYTHONPATH": str(REPO_ROOT / "mlflow"), **extra_env}
    result = subprocess.run([sys.executable, "-c", PAYLOAD, app_module], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("app_module, presigned", [("mlflow.server.fastapi_app", True),
                                                   ("proxied_app", False)])
def test_server_info_offers_presigned_transfers_only_without_our_app(
        tmp_path: Path, app_module: str, presigned: bool) -> None:
    info = server_info(tmp_path, app_module)
    assert info["multipart_downloads_enabled"] is presigned
    assert info["multipart_uploads_enabled"] is presigned


def test_the_basic_auth_app_is_wrapped_too(tmp_path: Path) -> None:
    # `--app-name basic-auth` (MLFLOW_AUTH=basic) makes uvicorn call a factory instead.
    info = server_info(tmp_path, "proxied_app", PROXIED_APP_TARGET="mlflow.server.auth:create_app")
    assert info["multipart_downloads_enabled"] is False


def test_the_route_is_wrapped_when_mlflow_imported_it_first(tmp_path: Path) -> None:
    # serve.py runs uvicorn in the process of MLflow's CLI: the server-info route's module may be
    # imported before our app is.
    info = server_info(tmp_path, "mlflow.server.server_info_api,proxied_app")
    assert info["multipart_downloads_enabled"] is False
    assert info["multipart_uploads_enabled"] is False

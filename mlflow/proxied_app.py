"""MLflow's tracking server app, with every artifact transfer kept on the server's proxy.

MLflow 3.17 tells its clients (`/api/3.0/mlflow/server-info`) that they may move artifacts
straight to and from the object store through presigned URLs whenever the store supports them.
Those URLs name the store by the address the server itself uses: `http://s3:9000` in Compose, a
loopback address natively. A client on the host, or on another machine, cannot reach that, and
each file then waits out the client's retries (minutes) before it falls back to the proxy. The
platform serves artifacts through the server (`--serve-artifacts`, so that clients need neither
S3 credentials nor a route to the store): this app says so to its clients.
"""

import importlib
import os

from mlflow.server import handlers
from mlflow.utils.server_info import (
    SERVER_INFO_MULTIPART_DOWNLOADS_ENABLED,
    SERVER_INFO_MULTIPART_UPLOADS_ENABLED,
)

_server_info = handlers.build_server_info_payload


def _proxied_transfers_only() -> dict:
    payload = _server_info()
    payload[SERVER_INFO_MULTIPART_DOWNLOADS_ENABLED] = False
    payload[SERVER_INFO_MULTIPART_UPLOADS_ENABLED] = False
    return payload


handlers.build_server_info_payload = _proxied_transfers_only

# The target is what `mlflow server` gave uvicorn (serve.py): MLflow's app, or the basic-auth app's
# factory. The server-info route calls the payload builder it imported by name: patched there too,
# whether or not that module was imported before this one (serve.py runs uvicorn in the process
# that ran MLflow's CLI).
_module, _, _name = os.environ.get("PROXIED_APP_TARGET", "mlflow.server.fastapi_app:app").partition(":")
_target = getattr(importlib.import_module(_module), _name)
importlib.import_module("mlflow.server.server_info_api").build_server_info_payload = \
    _proxied_transfers_only
app = _target


def create_app():
    """For a factory target (`--factory`, e.g. `--app-name basic-auth`)."""
    return _target()

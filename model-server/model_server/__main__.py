"""`python -m model_server`: serve every registered model's MODEL_SERVER_ALIAS on MODEL_SERVER_PORT."""

from __future__ import annotations

import logging

import mlflow
import uvicorn

from .app import build_app
from .catalog import ModelCatalog
from .login import require_login
from .settings import ServerSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServerSettings.from_env()
    mlflow.set_tracking_uri(settings.tracking_uri)
    catalog = ModelCatalog(settings.model_name, settings.alias)
    app = require_login(build_app(catalog, settings.poll_seconds), settings.login)
    logging.getLogger(__name__).info(
        "serving every model's %s (%s at /invocations) from %s on %s:%d (polling every %ss, %s)",
        settings.alias, settings.model_name, settings.tracking_uri, settings.bind_host,
        settings.port, settings.poll_seconds,
        f"login {settings.login.user}" if settings.login else "no login")
    uvicorn.run(app, host=settings.bind_host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()

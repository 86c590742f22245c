"""`python -m model_server`: serve every registered model's MODEL_SERVER_ALIAS on MODEL_SERVER_PORT."""

from __future__ import annotations

import logging
from functools import partial

import mlflow
import uvicorn

from .app import build_app
from .artifact_proxy import put_artifact
from .catalog import ModelCatalog
from .inference_log import InferenceLog
from .settings import ServerSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServerSettings.from_env()
    mlflow.set_tracking_uri(settings.tracking_uri)
    catalog = ModelCatalog(settings.model_name, settings.alias)
    inference_log = InferenceLog(settings.inference_log,
                                 partial(put_artifact, settings.tracking_uri))
    app = build_app(catalog, settings.poll_seconds, inference_log)
    logger = logging.getLogger(__name__)
    logger.info(
        "serving every model's %s (%s at /invocations) from %s on %s:%d (polling every %ss)",
        settings.alias, settings.model_name,
        settings.tracking_uri, settings.bind_host, settings.port, settings.poll_seconds)
    logger.info("inference log: %s", f"mlflow-artifacts:/{settings.inference_log.prefix}/ "
                if inference_log.enabled else "off (INFERENCE_LOG=off)")
    uvicorn.run(app, host=settings.bind_host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()

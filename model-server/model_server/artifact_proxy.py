"""Write a file through MLflow's artifact proxy, so the model server needs no object-store keys.

The tracking server (`--serve-artifacts`) stores what is PUT at
`/api/2.0/mlflow-artifacts/artifacts/<path>` in its artifact store, readable afterwards as
`mlflow-artifacts:/<path>`. MLflow's own HTTP client sends it, with the login of
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD when MLflow has one.
"""

from __future__ import annotations

from urllib.parse import quote

from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import augmented_raise_for_status, http_request


def put_artifact(tracking_uri: str, path: str, data: bytes, content_type: str,
                 timeout: float = 30, retries: int = 2) -> str:
    """PUT `data` at `mlflow-artifacts:/<path>`; return that URI. Raises on failure.

    Few retries and a short timeout, not MLflow's defaults (7 retries, minutes of back-off): the
    caller drops what it cannot write rather than hold it.
    """
    root = MlflowArtifactsRepository.resolve_uri("mlflow-artifacts:/", tracking_uri)
    response = http_request(get_default_host_creds(root), "/" + quote(path, safe="/="), "PUT", data=data,
                            extra_headers={"Content-Type": content_type}, max_retries=retries,
                            backoff_factor=1, backoff_jitter=0, timeout=timeout)
    augmented_raise_for_status(response)
    return f"mlflow-artifacts:/{path}"

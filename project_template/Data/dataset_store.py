"""Immutable dataset copies kept as MLflow artifacts of the pipeline run, addressed by URI."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.tracking import MlflowClient

from .. import config


def data_version(raw: bytes) -> str:
    """A content hash: the same bytes always get the same version, any change a new one."""
    return hashlib.sha256(raw).hexdigest()


def store_bytes(raw: bytes, run_id: str, artifact_path: str, file_name: str) -> str:
    """Log `raw` as an artifact of `run_id` and return its artifact URI.

    Artifacts are write-once per run, and every DAG run has its own pipeline run, so a stored
    copy never changes under a task that reads it.
    """
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / file_name
        local.write_bytes(raw)
        MlflowClient().log_artifact(run_id, str(local), artifact_path)
    artifact_uri = MlflowClient().get_run(run_id).info.artifact_uri
    return f"{artifact_uri.rstrip('/')}/{artifact_path}/{file_name}"


def store_frame(frame: pd.DataFrame, run_id: str, artifact_path: str, file_name: str) -> str:
    """Log a data frame as a `;`-separated CSV artifact; return its URI."""
    text = frame.to_csv(sep=config.CSV_DELIMITER, index=False, lineterminator="\n")
    return store_bytes(text.encode("utf-8"), run_id, artifact_path, file_name)


def load_frame(uri: str) -> pd.DataFrame:
    """Read a CSV stored by `store_frame` or `store_bytes`."""
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        return pd.read_csv(local, sep=config.CSV_DELIMITER, quotechar='"')


def dataset_source(uri: str) -> DatasetSource | str:
    """The lineage source MLflow records for a stored copy.

    MLflow has no dataset source for `mlflow-artifacts:` URIs (artifacts proxied by the tracking
    server), so those are recorded as the server's HTTP download address of the same file.
    """
    if uri.startswith("mlflow-artifacts:"):
        path = urlparse(uri).path.lstrip("/")
        base = mlflow.get_tracking_uri().rstrip("/")
        return HTTPDatasetSource(f"{base}/api/2.0/mlflow-artifacts/artifacts/{path}")
    return uri

"""Immutable dataset copies kept as MLflow artifacts of the pipeline run, addressed by URI."""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.data.pandas_dataset import PandasDataset
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


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(sep=config.CSV_DELIMITER, index=False, lineterminator="\n")


def _read_csv(source: str | io.StringIO) -> pd.DataFrame:
    return pd.read_csv(source, sep=config.CSV_DELIMITER, quotechar='"')


def store_frame(frame: pd.DataFrame, run_id: str, artifact_path: str, file_name: str) -> str:
    """Log a data frame as a `;`-separated CSV artifact; return its URI."""
    return store_bytes(_csv_text(frame).encode("utf-8"), run_id, artifact_path, file_name)


def load_frame(uri: str) -> pd.DataFrame:
    """Read a CSV stored by `store_frame` or `store_bytes`."""
    with tempfile.TemporaryDirectory() as folder:
        return _read_csv(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder))


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as `load_frame` reads it back once stored: the same values and column types."""
    return _read_csv(io.StringIO(_csv_text(frame)))


def stored_dataset(frame: pd.DataFrame, uri: str, name: str) -> PandasDataset:
    """The MLflow dataset of the copy at `uri`, for lineage; equal frames get equal digests."""
    return mlflow.data.from_pandas(frame, source=dataset_source(uri),
                                   targets=config.TARGET_COLUMN, name=name)


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

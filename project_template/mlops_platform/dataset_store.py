"""Immutable dataset copies kept as MLflow artifacts of the pipeline run, addressed by URI."""

from __future__ import annotations

import hashlib
import math
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
from .schema import parse_dataset, to_csv_bytes


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
    return stored_uri(run_id, artifact_path, file_name)


def stored_uri(run_id: str, artifact_path: str, file_name: str) -> str:
    """The artifact URI `store_bytes` gives a file it stores in `run_id`."""
    artifact_uri = MlflowClient().get_run(run_id).info.artifact_uri
    return f"{artifact_uri.rstrip('/')}/{artifact_path}/{file_name}"


def _csv(frame: pd.DataFrame) -> bytes:
    return to_csv_bytes(frame, config.DATA.delimiter, config.DATA.encoding)


def read_frame(raw: bytes, min_rows: int = 1) -> pd.DataFrame:
    """A stored copy parsed and checked against the schema, typed as training sees it."""
    return parse_dataset(raw, config.SCHEMA, config.DATA.delimiter, config.DATA.encoding, min_rows)


def min_rows_per_class() -> int:
    """The rows each class needs so that the stratified split gives every part every class: a
    class of fewer than 1/fraction rows may get none in the smallest part (0.2: 5 rows)."""
    smallest = min(config.VALIDATION_FRACTION, config.TEST_FRACTION,
                   1 - config.VALIDATION_FRACTION - config.TEST_FRACTION)
    return max(2, math.ceil(1 / smallest - 1e-9))


def read_dataset(raw: bytes) -> pd.DataFrame:
    """A whole dataset as `read_data` fetched it: the schema's rules and the whole's (its size,
    repeated rows, rows per class), so that what passes is what training can use."""
    return parse_dataset(raw, config.SCHEMA, config.DATA.delimiter, config.DATA.encoding,
                         config.DATA.min_rows, max_bytes=int(config.DATA.max_mb * 1e6),
                         allow_duplicate_rows=config.DATA.allow_duplicate_rows,
                         min_rows_per_class=min_rows_per_class())


def store_frame(frame: pd.DataFrame, run_id: str, artifact_path: str, file_name: str) -> str:
    """Log a data frame as a CSV artifact in the project's delimiter and encoding; return its URI."""
    return store_bytes(_csv(frame), run_id, artifact_path, file_name)


def load_frame(uri: str, min_rows: int = 1) -> pd.DataFrame:
    """Read a copy stored by `store_frame` or `store_bytes`, validated against the schema."""
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        return read_frame(Path(local).read_bytes(), min_rows)


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as `load_frame` reads it back once stored: the same values and column types."""
    return read_frame(_csv(frame))


def stored_dataset(frame: pd.DataFrame, uri: str, name: str) -> PandasDataset:
    """The MLflow dataset of the copy at `uri`, for lineage; equal frames get equal digests."""
    return mlflow.data.from_pandas(frame, source=dataset_source(uri),
                                   targets=config.SCHEMA.target.name, name=name)


_PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts/"


def dataset_source(uri: str) -> DatasetSource | str:
    """The lineage source MLflow records for a stored copy.

    MLflow has no dataset source for `mlflow-artifacts:` URIs (artifacts proxied by the tracking
    server), so those are recorded as the server's HTTP download address of the same file.
    """
    if uri.startswith("mlflow-artifacts:"):
        path = urlparse(uri).path.lstrip("/")
        base = mlflow.get_tracking_uri().rstrip("/")
        return HTTPDatasetSource(f"{base}{_PROXY_PATH}{path}")
    return uri


def source_uri(source: dict) -> str:
    """The artifact URI of a stored copy from its recorded lineage source (`dataset_source`'s
    inverse): the server's download address of a proxied artifact becomes `mlflow-artifacts:/`."""
    location = source.get("url") or source.get("uri")
    if not location:
        raise ValueError(f"the dataset source {source} names no location")
    if _PROXY_PATH in location:
        return "mlflow-artifacts:/" + location.split(_PROXY_PATH, 1)[1]
    return location

"""The `read_data` step: fetch the dataset, validate it, and store an immutable copy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlflow.tracking import MlflowClient

from .. import config
from ..Models.tracking import start_pipeline_run
from ..Process.validation import parse_and_validate
from .dataset_store import data_version, store_bytes

log = logging.getLogger(__name__)

DATA_SOURCES = ("ids", "local", "s3")


class DataSourceError(RuntimeError):
    """The dataset could not be fetched from its source; the message names source and cause."""


@dataclass(frozen=True)
class DataSource:
    kind: str  # one of DATA_SOURCES
    location: str  # IDS resource title, file path, or s3:// URI

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"


def resolve_data_source(kind: str | None = None, location: str | None = None) -> DataSource:
    """The source to read, from explicit values (DAG params) or else the project's config."""
    kind = (kind or config.DATA_SOURCE).strip().lower()
    defaults = {"ids": config.IDS_RESOURCE_TITLE, "local": config.LOCAL_DATA_PATH,
                "s3": config.S3_DATA_URI}
    if kind not in defaults:
        raise DataSourceError(f"unknown data source {kind!r}: use one of {', '.join(DATA_SOURCES)}")
    location = (location or defaults[kind]).strip()
    if not location:
        raise DataSourceError(f"data source {kind!r} needs a location (set S3_DATA_URI or the "
                              f"DAG param data_location)")
    return DataSource(kind, location)


def _fetch_ids(title: str) -> bytes:
    # Imported here so that the local and S3 sources work without the IDS client's dependencies.
    from ..IDS_templates.rest_ids_consumer_connector import RestIDSConsumerConnector

    data = RestIDSConsumerConnector().get_external_artifact_by_resource_title(
        title, config.IDS_EDGE_HOST, config.IDS_EDGE_PORT,
        config.IDS_CLOUD_HOST, config.IDS_CLOUD_PORT,
    )
    with data:  # a temporary file, deleted when closed
        return data.read()


def _fetch_local(path: str) -> bytes:
    file = Path(path)
    if not file.is_absolute():
        file = config.PROJECT_DIR / file
    if not file.is_file():
        raise DataSourceError(f"local data file {file} does not exist")
    return file.read_bytes()


def _fetch_s3(uri: str) -> bytes:
    import boto3  # only this source needs it

    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise DataSourceError(f"{uri!r} is not an s3://bucket/key URI")
    client = boto3.client("s3", endpoint_url=config.S3_ENDPOINT_URL or None)
    response = client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
    return response["Body"].read()


def fetch_raw_data(source: DataSource) -> bytes:
    """The dataset's bytes exactly as the source holds them."""
    fetch = {"ids": _fetch_ids, "local": _fetch_local, "s3": _fetch_s3}[source.kind]
    try:
        raw = fetch(source.location)
    except DataSourceError:
        raise
    except Exception as error:
        raise DataSourceError(f"could not fetch the dataset from {source}: "
                              f"{type(error).__name__}: {error}") from error
    log.info("fetched %d bytes from %s", len(raw), source)
    return raw


def read_data(source: DataSource, experiment_name: str, dag_run_id: str) -> dict:
    """Fetch and validate the dataset, then keep it as an artifact of a new pipeline run.

    Returns references only: the pipeline run id, the data's artifact URI and its version.
    Validation comes first, so a bad file never gets a pipeline run or reaches training.
    """
    raw = fetch_raw_data(source)
    frame = parse_and_validate(raw)
    version = data_version(raw)
    run_id = start_pipeline_run(experiment_name, dag_run_id, tags={
        "data_source": str(source), "data_version": version, "data_rows": str(len(frame)),
    })
    uri = store_bytes(raw, run_id, "data", "raw.csv")
    # Ended now rather than left RUNNING if a later task fails; later steps still add their
    # artifacts (the splits) and nest their runs under it.
    MlflowClient().set_terminated(run_id)
    log.info("stored %d validated rows (version %s) at %s", len(frame), version[:12], uri)
    return {"pipeline_run_id": run_id, "data_uri": uri, "data_version": version}

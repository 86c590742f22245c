"""Where the dataset comes from: the IDS edge, a local file or S3, as the bytes the source holds.

The platform's `read_data` step (mlops_platform/ingest.py) calls `fetch_raw_data`, then checks the
bytes against the schema in project.toml and keeps an immutable copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .. import config

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
    kind = (kind or config.DATA.source).strip().lower()
    defaults = {"ids": config.DATA.ids_title, "local": config.DATA.local_path,
                "s3": config.DATA.s3_uri}
    if kind not in defaults:
        raise DataSourceError(f"unknown data source {kind!r}: use one of {', '.join(DATA_SOURCES)}")
    location = (location or defaults[kind]).strip()
    if not location:
        raise DataSourceError(f"data source {kind!r} needs a location ([data] s3_uri in project.toml or the "
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

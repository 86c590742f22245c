"""The latest window of what the model server served, read back from its inference log.

The log's layout is the serving contract: `mlflow-artifacts:/<prefix>/<registered model>/
date=YYYY-MM-DD/<UTC timestamp>-<uuid>.parquet`, one row per scored input row, with `timestamp`
(UTC, the request's arrival) and `model_version` beside the input columns. It is read through
MLflow's artifact proxy, so no task holds the object store's keys.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

PARTITION = "date="


@dataclass(frozen=True)
class Window:
    """Served inputs count when `start <= timestamp < end` (UTC)."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, hours: float, since: datetime | None = None) -> Window:
        """The `hours` before `end`, or from `since` when given (a run by hand that asks for the
        traffic after a known moment)."""
        if end.tzinfo is None or (since is not None and since.tzinfo is None):
            raise ValueError("window bounds must be timezone-aware (UTC)")
        return cls(since if since is not None else end - timedelta(hours=hours), end)

    def dates(self) -> list[date]:
        """The date partitions the window touches."""
        first, last = self.start.astimezone(UTC).date(), self.end.astimezone(UTC).date()
        return [first + timedelta(days=day) for day in range((last - first).days + 1)]

    def __str__(self) -> str:
        return f"{self.start.isoformat(timespec='seconds')} to {self.end.isoformat(timespec='seconds')}"


def in_window(rows: pd.DataFrame, window: Window, model_version: str | None = None) -> pd.DataFrame:
    """The rows served inside `window` (by the given model version only, when one is given)."""
    stamps = pd.to_datetime(rows["timestamp"], utc=True)
    keep = (stamps >= pd.Timestamp(window.start)) & (stamps < pd.Timestamp(window.end))
    if model_version is not None:
        keep &= rows["model_version"].astype(str) == str(model_version)
    return rows[keep].reset_index(drop=True)


def log_location(prefix: str, model_name: str) -> str:
    return f"mlflow-artifacts:/{prefix.strip('/')}/{model_name}"


def read_served_inputs(prefix: str, model_name: str, window: Window,
                       model_version: str | None = None) -> pd.DataFrame:
    """Every row of the inference log of `model_name` served inside `window`; empty (no columns)
    before any traffic."""
    import mlflow.artifacts

    root = log_location(prefix, model_name)
    wanted = {f"{PARTITION}{day.isoformat()}" for day in window.dates()}
    # Before the first request the folder does not exist, and the listing is empty.
    partitions = [info.path.rsplit("/", 1)[-1] for info in
                  mlflow.artifacts.list_artifacts(artifact_uri=root) if info.is_dir]
    frames = []
    with tempfile.TemporaryDirectory() as folder:
        for partition in sorted(wanted.intersection(partitions)):
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{partition}",
                                                             dst_path=folder))
            frames.extend(pd.read_parquet(file) for file in sorted(local.glob("*.parquet")))
    if not frames:
        return pd.DataFrame()
    rows = in_window(pd.concat(frames, ignore_index=True), window, model_version)
    log.info("%d served rows of %s in %s (%d files)", len(rows), model_name, window, len(frames))
    return rows

"""The inference log: every scored row, written as Parquet through MLflow's artifact proxy.

One row per scored input row: `request_id`, `timestamp` (the request's arrival, UTC),
`model_name`, `model_version`, the input columns under their own names, then `prediction` (the
served output of that row: a number or a label, or a JSON string when it is not a scalar). Files
land at `mlflow-artifacts:/<prefix>/<model>/date=YYYY-MM-DD/<UTC time>-<uuid>.parquet`.

Off the request path: a request only appends a reference to what it scored to a bounded queue.
A background thread turns the queue into Parquet and uploads it when `flush_rows` rows wait or
`flush_seconds` pass, and once more at shutdown. When `max_rows` rows are held (queued or being
uploaded), further records are dropped, never requests; a failed upload drops its rows too. Both
are counted in `dropped_rows`, shown by /health and GET /models.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

from .settings import InferenceLogSettings

log = logging.getLogger(__name__)

PARQUET = "application/vnd.apache.parquet"
# The columns every row starts with; input columns follow, then PREDICTION.
KEYS = ("request_id", "timestamp", "model_name", "model_version")
PREDICTION = "prediction"

# (path, bytes, content type) -> the written URI; raises when it cannot write.
Upload = Callable[[str, bytes, str], str]


@dataclass(frozen=True)
class ScoredRequest:
    """One successful scoring request, as the request path hands it over (nothing converted)."""

    request_id: str
    arrived: datetime  # UTC
    model_name: str
    model_version: str
    inputs: Any  # what MLflow's scoring app passed to predict: DataFrame, dict, list or array
    output: Any  # what predict returned
    input_names: tuple[str, ...] = ()  # the model's input schema, names for unnamed arrays
    rows: int = 0


def row_count(inputs: Any) -> int:
    """How many rows MLflow parsed: a frame's rows, a dict's column length, a list's items."""
    if isinstance(inputs, pd.DataFrame):
        return len(inputs)
    if isinstance(inputs, dict):
        first = next(iter(inputs.values()), None)
        return int(np.size(first)) if np.ndim(first) <= 1 else len(first)
    if isinstance(inputs, np.ndarray | list):
        return len(inputs)
    return 1


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0 \
        else value


def input_frame(inputs: Any, names: tuple[str, ...] = ()) -> pd.DataFrame:
    """The scored inputs as a frame with one column per input, named as sent.

    Unnamed columns (a 2-D `instances` or `inputs` array) take the model's input names when their
    number matches, else `input_<i>`.
    """
    if isinstance(inputs, pd.DataFrame):
        return inputs.reset_index(drop=True)
    if isinstance(inputs, dict):
        return pd.DataFrame({str(k): np.atleast_1d(v).tolist() if np.ndim(v) <= 1 else list(v)
                             for k, v in inputs.items()})
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return pd.DataFrame([{str(k): _scalar(v) for k, v in r.items()} for r in inputs])
    array = np.asarray(inputs)
    if array.ndim == 2:
        columns = list(names) if len(names) == array.shape[1] else \
            [f"input_{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=columns)
    return pd.DataFrame({"input": [_json_or_scalar(v) for v in np.atleast_1d(array).tolist()]})


def _json_or_scalar(value: Any) -> Any:
    value = _scalar(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, cls=NumpyEncoder)


def prediction_column(output: Any, rows: int) -> list:
    """The served output per row, as the scoring app serializes it (MLflow's own conversion)."""
    served = _get_jsonable_obj(output, pandas_orient="records")
    if isinstance(served, dict) and all(np.ndim(v) >= 1 and len(v) == rows
                                        for v in served.values()):
        served = [{k: v[i] for k, v in served.items()} for i in range(rows)]
    if not isinstance(served, list | tuple) or len(served) != rows:
        raise ValueError(f"the model answered {type(output).__name__} of "
                         f"{len(served) if hasattr(served, '__len__') else 1} rows for {rows} "
                         "input rows: no prediction per row")
    return [_json_or_scalar(value) for value in served]


def request_table(request: ScoredRequest) -> pa.Table:
    """The log rows of one request."""
    frame = input_frame(request.inputs, request.input_names)
    reserved = [c for c in frame.columns if c in (*KEYS, PREDICTION)]
    if reserved:
        raise ValueError(f"input columns {reserved} clash with the log's own columns")
    rows = len(frame)
    inputs = pa.Table.from_pandas(frame, preserve_index=False)
    columns = {
        "request_id": pa.array([request.request_id] * rows, pa.string()),
        "timestamp": pa.array([request.arrived] * rows, pa.timestamp("us", tz="UTC")),
        "model_name": pa.array([request.model_name] * rows, pa.string()),
        "model_version": pa.array([request.model_version] * rows, pa.string()),
        **{name: inputs.column(name) for name in inputs.column_names},
        PREDICTION: pa.array(prediction_column(request.output, rows)),
    }
    return pa.table(columns)


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def log_path(prefix: str, model_name: str, day: str, written: datetime) -> str:
    return (f"{prefix}/{model_name}/date={day}/"
            f"{written.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex}.parquet")


class InferenceLog:
    """The bounded queue of scored requests and the thread that writes it out."""

    def __init__(self, settings: InferenceLogSettings, upload: Upload) -> None:
        self.settings = settings
        self._upload = upload
        self._queue: list[ScoredRequest] = []
        self._held_rows = 0  # queued plus being written: what max_rows bounds
        self._queued_rows = 0
        self._oldest = 0.0  # monotonic arrival of the oldest queued request
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = Counter()  # rows written, per model
        self.dropped = Counter()  # rows dropped (queue full or upload failed), per model
        self.files = 0
        self.last_error: str | None = None
        self.last_written: str | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    # -- the request path: never blocks on anything but a short lock ------------------------------

    def record(self, request: ScoredRequest) -> bool:
        """Queue `request` (True), or count its rows as dropped when the queue is full (False)."""
        with self._lock:
            if self._held_rows + request.rows > self.settings.max_rows or self._stopping:
                self.dropped[request.model_name] += request.rows
                return False
            first = not self._queue
            if first:
                self._oldest = time.monotonic()
            self._queue.append(request)
            self._held_rows += request.rows
            self._queued_rows += request.rows
            if first or self._queued_rows >= self.settings.flush_rows:
                self._lock.notify()  # the writer starts its clock, or writes now
            return True

    # -- the writer thread -----------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 30) -> None:
        """Write what is queued, then stop the thread (at shutdown)."""
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[ScoredRequest] | None:
        """Wait until a flush is due; the requests to write ([] to go on waiting), None to stop."""
        with self._lock:
            while True:
                due = self._oldest + self.settings.flush_seconds
                if self._queued_rows >= self.settings.flush_rows or self._stopping or \
                        (self._queue and time.monotonic() >= due):
                    break
                self._lock.wait(max(0.05, due - time.monotonic()) if self._queue else None)
            batch, self._queue, self._queued_rows = self._queue, [], 0
            if not batch and self._stopping:
                return None
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self.flush(batch)
            finally:
                with self._lock:
                    self._held_rows -= sum(r.rows for r in batch)

    def flush(self, batch: list[ScoredRequest]) -> None:
        """Write `batch`: one file per model, day and column layout. Never raises."""
        groups: dict[tuple[str, str, str], list[pa.Table]] = {}
        for request in batch:
            try:
                table = request_table(request)
            except Exception as error:  # one odd request must not cost the others their rows
                self._failed(request.model_name, request.rows, f"request {request.request_id}: "
                             f"{type(error).__name__}: {error}")
                continue
            key = (request.model_name, request.arrived.date().isoformat(), str(table.schema))
            groups.setdefault(key, []).append(table)
        for (model_name, day, _), tables in groups.items():
            table = pa.concat_tables(tables)
            path = log_path(self.settings.prefix, model_name, day, datetime.now(UTC))
            try:
                uri = self._upload(path, parquet_bytes(table), PARQUET)
            except Exception as error:
                self._failed(model_name, table.num_rows,
                             f"writing {path}: {type(error).__name__}: {error}")
                continue
            with self._lock:
                self.written[model_name] += table.num_rows
                self.files += 1
                self.last_written = uri

    def _failed(self, model_name: str, rows: int, error: str) -> None:
        with self._lock:
            self.dropped[model_name] += rows
            self.last_error = error
        log.warning("inference log: dropped %d rows of %s: %s", rows, model_name, error)

    # -- what /health and GET /models show -------------------------------------------------------

    def status(self) -> dict:
        with self._lock:
            return {"enabled": self.enabled, "prefix": self.settings.prefix,
                    "queued_rows": self._queued_rows, "written_rows": sum(self.written.values()),
                    "written_files": self.files, "dropped_rows": sum(self.dropped.values()),
                    "last_written": self.last_written, "last_error": self.last_error}

    def model_status(self, model_name: str) -> dict:
        with self._lock:
            return {"written_rows": self.written[model_name],
                    "dropped_rows": self.dropped[model_name]}

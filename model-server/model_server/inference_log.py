"""The inference log: every scored row, written as Parquet through MLflow's artifact proxy.

Files land at `mlflow-artifacts:/<prefix>/<model>/date=YYYY-MM-DD/<UTC time>-<uuid>.parquet`;
their rows are log_rows.py's. Off the request path: a request only appends a reference to what
it scored to a bounded queue. A background thread turns the queue into Parquet and uploads it
when `flush_rows` rows wait or `flush_seconds` pass, and once more at shutdown. When `max_rows`
rows are held (queued or being uploaded), further records are dropped, never requests; a failed
upload drops its rows too. Both are counted in `dropped_rows`, shown by /health and GET /models.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from .log_rows import PARQUET, LoggedRows, ScoredRequest, logged_rows, parquet_bytes, rows_table
from .settings import InferenceLogSettings

log = logging.getLogger(__name__)

# (path, bytes, content type) -> the written URI; raises when it cannot write.
Upload = Callable[[str, bytes, str], str]


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

    def close(self, timeout: float = 20) -> None:
        """Write what is queued, then stop the thread (at shutdown).

        At most `timeout` seconds, within the runners' 30 s stop wait (supervisord's stopwaitsecs,
        Compose's stop_grace_period) before they kill the server and its last rows with it.
        """
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
        groups: dict[tuple, list[LoggedRows]] = {}
        for request in batch:
            try:
                rows = logged_rows(request)
            except Exception as error:  # one odd request must not cost the others their rows
                self._failed(request.model_name, request.rows, f"request {request.request_id}: "
                             f"{type(error).__name__}: {error}")
                continue
            groups.setdefault(rows.layout(), []).append(rows)
        for (model_name, day, *_), group in groups.items():
            path = log_path(self.settings.prefix, model_name, day, datetime.now(UTC))
            count = sum(len(rows.inputs) for rows in group)
            try:
                uri = self._upload(path, parquet_bytes(rows_table(group)), PARQUET)
            except Exception as error:
                self._failed(model_name, count, f"writing {path}: {type(error).__name__}: {error}")
                continue
            with self._lock:
                self.written[model_name] += count
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

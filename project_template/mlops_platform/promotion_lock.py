"""One promotion of a registered model at a time, across every process that can promote it.

Promotion reads the champion, compares, and moves the alias: two calls to MLflow that another run
could slip between. Promotions of one model therefore hold a lock around the re-check and the set:

- a PostgreSQL advisory lock, taken through the stack's promotion-lock login (PROMOTION_LOCK_DB_*:
  a role that can only connect to a database of its own). It serialises every Airflow, worker
  machine and `dag.test()` that reach the stack's PostgreSQL, and the server drops it when the
  holder's connection ends, so a killed task never leaves it held;
- without that login (the native runner's SQLite fallback, a plain MLflow store in the tests), a
  file lock in the machine's temporary folder: every process of this machine, and no other.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import config

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5


class PromotionLockTimeout(TimeoutError):
    """Another promotion of the same model held the lock for longer than the timeout."""


def lock_key(model_name: str) -> int:
    """A stable signed 64-bit key for `model_name` (PostgreSQL's advisory locks take a bigint)."""
    digest = hashlib.sha256(f"mlops promotion {model_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def promotion_lock(model_name: str, timeout: float = config.PROMOTION_LOCK_TIMEOUT_SECONDS
                   ) -> Iterator[None]:
    """Hold the promotion lock of `model_name`; raise PromotionLockTimeout after `timeout` s."""
    if config.PROMOTION_LOCK_DB.get("password"):
        lock, kind = _database_lock, "PostgreSQL advisory lock"
    else:
        lock, kind = _file_lock, "file lock of this machine"
    started = time.monotonic()
    with lock(model_name, timeout):
        log.info("holding the promotion lock of %s (%s, waited %.1f s)", model_name, kind,
                 time.monotonic() - started)
        yield


def _give_up(model_name: str, timeout: float) -> PromotionLockTimeout:
    return PromotionLockTimeout(
        f"another promotion of {model_name!r} held its lock for over {timeout:.0f} s; the champion "
        f"is unchanged. The task retries; if this repeats, look for a promotion that hangs.")


@contextmanager
def _database_lock(model_name: str, timeout: float) -> Iterator[None]:
    import psycopg2

    connection = psycopg2.connect(connect_timeout=10, application_name="mlops promotion lock",
                                  **config.PROMOTION_LOCK_DB)
    connection.autocommit = True
    key, deadline = lock_key(model_name), time.monotonic() + timeout
    try:
        with connection.cursor() as cursor:
            # Polled rather than waited for: a waiting pg_advisory_lock cannot be given a deadline
            # of its own without touching the session's other timeouts.
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise _give_up(model_name, timeout)
                time.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()  # releases the lock too, should the unlock above have failed


@contextmanager
def _file_lock(model_name: str, timeout: float) -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / f"mlops-promotion-{lock_key(model_name):x}.lock"
    deadline = time.monotonic() + timeout
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _give_up(model_name, timeout) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Follow a registry alias: load the version it points to, and swap it in once it is loaded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server
from mlflow.tracking import MlflowClient

from .capture import RecordingModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and MLflow's scoring app around it."""

    name: str
    alias: str
    version: str
    run_id: str
    app: Any  # the ASGI app of mlflow.pyfunc.scoring_server for this model
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> dict:
        return {"model_name": self.name, "alias": self.alias, "version": self.version,
                "run_id": self.run_id, "loaded_at": self.loaded_at}


def load_scoring_app(model_uri: str) -> Any:
    # The model's predict also hands what it scored to the inference log (capture.py).
    return scoring_server.init(RecordingModel(mlflow.pyfunc.load_model(model_uri)))


class ChampionTracker:
    """Holds the served model; `refresh` moves it to the alias's current version.

    Requests read `current` once and keep that object to the end, so a swap never interrupts one:
    the old model answers what it started, the new one everything after the swap.
    """

    def __init__(self, model_name: str, alias: str,
                 load: Callable[[str], Any] = load_scoring_app) -> None:
        self.model_name = model_name
        self.alias = alias
        self._load = load
        self._current: ServedModel | None = None
        self._refresh_lock = threading.Lock()  # one load at a time (poller and /reload)
        self.last_error: str | None = None

    @property
    def current(self) -> ServedModel | None:
        return self._current

    def _alias_target(self) -> tuple[str, str] | None:
        """(version, run id) the alias points to, or None while it does not exist."""
        try:
            version = MlflowClient().get_model_version_by_alias(self.model_name, self.alias)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        return str(version.version), version.run_id or ""

    def refresh(self) -> ServedModel | None:
        """Load the alias's version if it is not the one served; return what is served now."""
        with self._refresh_lock:
            try:
                target = self._alias_target()
                if target is None:
                    # Keep serving what we have: a deleted alias is not a reason to stop.
                    self.last_error = None
                    return self._current
                version, run_id = target
                if self._current is None or self._current.version != version:
                    # By version, not by alias: the alias may move again while this loads.
                    app = self._load(f"models:/{self.model_name}/{version}")
                    self._current = ServedModel(self.model_name, self.alias, version, run_id, app)
                    log.info("now serving %s version %s (%s)", self.model_name, version, self.alias)
                self.last_error = None
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("could not refresh %s@%s", self.model_name, self.alias)
                raise
            return self._current

    def status(self) -> dict:
        served = self._current
        return {"model_name": self.model_name, "alias": self.alias,
                "version": served.version if served else None,
                "champion": served.describe() if served else None,
                "last_error": self.last_error}

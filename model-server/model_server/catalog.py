"""Every registered model that has the alias, each followed by its own ChampionTracker."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from mlflow.tracking import MlflowClient

from .champion import ChampionTracker, load_scoring_app

log = logging.getLogger(__name__)


class ModelCatalog:
    """The served models by registered-model name; `default_name` also answers `/invocations`.

    A model joins the catalog when a poll finds it holding the alias, or when `/models/<name>/
    reload` asks for it (the deploy task's call, so a first champion is served at once).
    """

    def __init__(self, default_name: str, alias: str,
                 load: Callable[[str], Any] = load_scoring_app) -> None:
        self.default_name = default_name
        self.alias = alias
        self._load = load
        self._trackers: dict[str, ChampionTracker] = {}
        self._lock = threading.Lock()
        self.tracker(default_name)

    def tracker(self, name: str) -> ChampionTracker:
        """The tracker of `name`, created (serving nothing yet) if it has none."""
        with self._lock:
            if name not in self._trackers:
                self._trackers[name] = ChampionTracker(name, self.alias, self._load)
            return self._trackers[name]

    def forget_if_unserved(self, name: str) -> None:
        """Drop `name` again if it serves nothing (a reload asked for a model without champion)."""
        with self._lock:
            tracker = self._trackers.get(name)
            if name != self.default_name and tracker is not None and tracker.current is None:
                del self._trackers[name]

    def known(self, name: str) -> ChampionTracker | None:
        return self._trackers.get(name)

    def trackers(self) -> list[ChampionTracker]:
        return sorted(self._trackers.values(), key=lambda tracker: tracker.model_name)

    def discover(self) -> list[str]:
        """The registered models that hold the alias now."""
        client, names, token = MlflowClient(), [], None
        while True:
            page = client.search_registered_models(max_results=200, page_token=token)
            names += [model.name for model in page if self.alias in (model.aliases or {})]
            token = page.token
            if not token:
                return names

    def refresh_all(self) -> None:
        """Find new models with the alias and move every tracker to its alias's version.

        One model that fails to load is logged and keeps serving what it served; the others
        still refresh.
        """
        with contextlib.suppress(Exception):  # the registry unreachable: try again next poll
            for name in self.discover():
                self.tracker(name)
        for tracker in self.trackers():
            with contextlib.suppress(Exception):  # logged by the tracker
                tracker.refresh()

    def follow(self, poll_seconds: float, stop: threading.Event) -> None:
        """Refresh now and then every `poll_seconds` until `stop` is set; never raises."""
        while not stop.is_set():
            self.refresh_all()
            if poll_seconds <= 0:
                return
            stop.wait(poll_seconds)

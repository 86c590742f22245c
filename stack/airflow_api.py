"""A small client of Airflow 3's public REST API v2 (JWT auth), used by the CLI, demo and tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from stack.settings import Settings

TERMINAL_RUN_STATES = {"success", "failed"}


class AirflowAPIError(RuntimeError):
    """The API answered with an error; the message carries the status and Airflow's detail."""


class AirflowAPI:
    """Airflow's REST API v2 with a cached bearer token that is renewed on 401."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AirflowAPI:
        return cls(settings.airflow_url, settings.get("AIRFLOW_ADMIN_USER"),
                   settings.get("AIRFLOW_ADMIN_PASSWORD"))

    def token(self) -> str:
        """A fresh JWT from `/auth/token`."""
        response = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise AirflowAPIError(
                f"Airflow refused a token for user {self.username!r} at {self.base_url}/auth/token: "
                f"{response.status_code} {response.text[:300]}. Check AIRFLOW_ADMIN_USER and "
                f"AIRFLOW_ADMIN_PASSWORD in .env."
            )
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call `/api/v2/<path>`; raise AirflowAPIError on an error status."""
        kwargs.setdefault("timeout", self.timeout)
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"
        for attempt in range(2):
            if self._token is None:
                self.token()
            headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
            response = self._session.request(method, url, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired: log in once more
                kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                continue
            break
        if response.status_code >= 400:
            raise AirflowAPIError(f"{method} {url}: {response.status_code} {response.text[:500]}")
        return response

    def health(self) -> dict:
        """`/api/v2/monitor/health` (no auth needed)."""
        response = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def dag(self, dag_id: str) -> dict:
        return self.request("GET", f"dags/{dag_id}").json()

    def unpause(self, dag_id: str) -> dict:
        return self.request("PATCH", f"dags/{dag_id}", json={"is_paused": False}).json()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Wait until the dag-processor has parsed `dag_id` and the API knows it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except AirflowAPIError as error:
                if "404" not in str(error) or time.monotonic() > deadline:
                    raise AirflowAPIError(
                        f"DAG {dag_id!r} did not appear within {timeout:.0f}s: {error}. Look for "
                        f"import errors in the UI or with GET /api/v2/importErrors."
                    ) from error
            time.sleep(1)

    def import_errors(self) -> list[dict]:
        return self.request("GET", "importErrors").json()["import_errors"]

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a run now; return its run id."""
        now = datetime.now(UTC)
        body = {
            "dag_run_id": f"manual__{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}",
            "logical_date": now.isoformat(),
            "conf": conf or {},
        }
        return self.request("POST", f"dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"dags/{dag_id}/dagRuns/{run_id}").json()

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"dags/{dag_id}/dagRuns",
                            params={"order_by": "-start_date"}).json()["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        response = self.request("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                                params={"limit": 1000})
        return response.json()["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600,
                     on_change: Callable[[dict], None] | None = None,
                     poll: float = 1.0) -> dict:
        """Poll until the run ends; call `on_change` for each task instance whose state changed."""
        seen: dict[tuple[str, int], str | None] = {}
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            for ti in self.task_instances(dag_id, run_id):
                key = (ti["task_id"], ti.get("map_index", -1))
                if seen.get(key, "<new>") != ti.get("state"):
                    seen[key] = ti.get("state")
                    if on_change:
                        on_change(ti)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise AirflowAPIError(
                    f"run {run_id} of {dag_id} still {run['state']!r} after {timeout:.0f}s"
                )
            time.sleep(poll)

    def asset(self, name: str) -> dict:
        """The asset called `name`: its id, the DAGs it schedules and the tasks that update it."""
        listed = self.request("GET", "assets", params={"name_pattern": name, "limit": 100})
        for asset in listed.json()["assets"]:
            if asset["name"] == name:
                return asset
        raise AirflowAPIError(f"Airflow knows no asset named {name!r}: the DAGs that declare it "
                              f"have not been parsed yet, or have import errors.")

    def asset_events(self, **filters: str | int) -> list[dict]:
        """Asset events, newest first, filtered by `asset_id`, `source_dag_id`, `source_run_id`..."""
        response = self.request("GET", "assets/events",
                                params={"limit": 100, "order_by": "-timestamp", **filters})
        return response.json()["asset_events"]

    def create_asset_event(self, asset_id: int, extra: dict) -> dict:
        """Update an asset by hand, as a producing task would (Airflow adds `from_rest_api`)."""
        return self.request("POST", "assets/events",
                            json={"asset_id": asset_id, "extra": extra}).json()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                 map_index: int = -1) -> str:
        """The task's log as text (Airflow 3 returns structured lines)."""
        response = self.request(
            "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
        )
        lines = []
        for item in response.json().get("content", []):
            if isinstance(item, dict):
                text = item.get("event", "")
                if item.get("error_detail"):
                    text += f" {item['error_detail']}"
                lines.append(f"{item.get('timestamp', '')} {item.get('level', '')} {text}".strip())
            else:
                lines.append(str(item))
        return "\n".join(lines)

"""Which asset event started a lifecycle run, as tags of its pipeline run, and the data it names.

The monitoring DAG (DAG/dag_monitoring.py) updates the retraining asset with an `extra` that says
why: `reason`, `drift_share`, `drifted_columns`, `monitoring_run_id`, and, when labels were
compared, the metric and both scores, plus `data_location` when it found a newer labeled batch.
The lifecycle run it starts records all of that, and where the event came from, on its pipeline
run, so MLflow shows why a model was retrained without a look at Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TAG_PREFIX = "retraining."
# How the DAG run started: Airflow's run type (`manual`, `asset_triggered`, `scheduled`).
RUN_TYPE_TAG = "airflow.run_type"


@dataclass(frozen=True)
class RetrainingTrigger:
    """The asset event that started a run (the newest, when several were consumed at once)."""

    asset: str
    source_dag_id: str
    source_run_id: str
    source_task_id: str
    timestamp: str
    extra: dict[str, Any] = field(default_factory=dict)
    events_consumed: int = 1

    @property
    def batch_location(self) -> str:
        """Where the newer labeled batch is (`data_location`), or "" when the event names none."""
        return str(self.extra.get("data_location") or "").strip()

    @property
    def batch_source_kind(self) -> str:
        """The source kind of the batch, when the event says (else the run's own source)."""
        return str(self.extra.get("data_source") or "").strip()

    def tags(self) -> dict[str, str]:
        """MLflow tags: `retraining.<what>` for the event's origin and for each key of `extra`."""
        tags = {
            "asset": self.asset,
            "source_dag_id": self.source_dag_id,
            "source_run_id": self.source_run_id,
            "source_task_id": self.source_task_id,
            "event_timestamp": self.timestamp,
            "events_consumed": str(self.events_consumed),
        }
        for key, value in self.extra.items():
            # Strings as they are; numbers and lists as JSON, so they read back unambiguously.
            tags.setdefault(key, value if isinstance(value, str) else json.dumps(value))
        return {f"{TAG_PREFIX}{key}": text for key, text in tags.items()}


def retraining_trigger(events: Iterable[Any]) -> RetrainingTrigger | None:
    """The trigger of a run from its triggering asset events (`triggering_asset_events[asset]`).

    None for a run that no event started (a manual run, `dag.test()`). Of several events queued
    before the run started, the newest is the one that triggered it (Airflow's own view); the
    count of all is kept.
    """
    events = list(events)
    if not events:
        return None
    newest = max(events, key=lambda event: event.timestamp)
    return RetrainingTrigger(
        asset=newest.asset.name,
        source_dag_id=newest.source_dag_id or "",
        source_run_id=newest.source_run_id or "",
        source_task_id=newest.source_task_id or "",
        timestamp=newest.timestamp.isoformat(),
        extra=dict(newest.extra or {}),
        events_consumed=len(events),
    )


def run_tags(run_type: object, trigger: RetrainingTrigger | None) -> dict[str, str]:
    """The pipeline run's tags saying how its DAG run started (`run_type`: Airflow's DagRunType)."""
    return {RUN_TYPE_TAG: str(getattr(run_type, "value", run_type)),
            **(trigger.tags() if trigger else {})}

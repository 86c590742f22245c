"""The Airflow asset that asks for retraining: the monitoring DAG updates it, the lifecycle DAG is
scheduled on it. One construction, so both DAGs name the same asset."""

from __future__ import annotations

from airflow.sdk import Asset

from .. import config

# What an event's `extra` says about why retraining was asked for.
REASON_DRIFT = "drift"
REASON_PERFORMANCE = "performance"


def retraining_asset() -> Asset:
    """This project's retraining asset (`config.RETRAINING_ASSET_NAME` / `_URI`)."""
    return Asset(name=config.RETRAINING_ASSET_NAME, uri=config.RETRAINING_ASSET_URI)


def retraining_reason(drifted: bool, performance_dropped: bool) -> str | None:
    """`drift`, `performance`, `drift+performance`, or None when neither threshold was passed."""
    reasons = [name for name, passed in ((REASON_DRIFT, drifted),
                                         (REASON_PERFORMANCE, performance_dropped)) if passed]
    return "+".join(reasons) or None

"""Registers this project's experiment in the IDS cloud connector's catalog (last DAG task)."""

from __future__ import annotations

import os

from ..IDS_templates.ids_experiment_registry import register_experiment_resource
from ..IDS_templates.ids_settings import IdsClientSettings


def register_experiment(
    experiment_name: str | None = None,
    cloud_host: str | None = None,
    api_port: str | int | None = None,
    description: str | None = None,
    settings: IdsClientSettings | None = None,
) -> dict[str, str]:
    """Offer the experiment (default: $EXPERIMENT_NAME) as resource `mlflow:<name>` in the cloud.

    Idempotent: a second call reports `already_registered`. Raises an `IDSError` if the connector
    cannot be reached or refuses, so the task fails instead of claiming success.
    """
    name = experiment_name or os.environ.get("EXPERIMENT_NAME") or ""
    if not name:
        raise ValueError("no experiment name given and EXPERIMENT_NAME is not set")
    return register_experiment_resource(
        name, settings=settings, cloud_host=cloud_host, api_port=api_port, description=description
    )

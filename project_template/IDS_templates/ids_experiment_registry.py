"""Registers an MLflow experiment as a resource of the cloud connector's catalog, idempotently."""

from __future__ import annotations

import logging
from typing import Any

from .ids_errors import IDSProtocolError
from .ids_http import IdsHttp
from .ids_messages import artifact_ids, experiment_resource, first_title
from .ids_settings import IdsClientSettings

log = logging.getLogger(__name__)


def register_experiment_resource(
    experiment_name: str,
    settings: IdsClientSettings | None = None,
    cloud_host: str | None = None,
    api_port: str | int | None = None,
    description: str | None = None,
) -> dict[str, str]:
    """Offer `experiment_name` (artifact `mlflow:<name>`) in the cloud's self-description API.

    Returns {"status": "registered" | "already_registered", "experiment", "resource_id",
    "artifact_id", "connector"}. Raises an `IDSError` when the connector cannot be reached or
    refuses: an unreachable connector is never reported as a registered experiment.
    """
    if not experiment_name or not experiment_name.strip():
        raise ValueError("an experiment name is required")
    s = settings or IdsClientSettings.from_env()
    http = IdsHttp(s)
    base = f"https://{cloud_host or s.cloud_host}:{api_port or s.cloud_api_port}"
    connector = _connector(http, base + "/", s)
    artifact_id = f"mlflow:{experiment_name}"
    result = {"experiment": experiment_name, "artifact_id": artifact_id, "connector": base}

    for resource in _resources(connector):
        if first_title(resource) == experiment_name and artifact_id in artifact_ids(resource):
            log.info("Experiment %r is already registered as %s", experiment_name, resource["@id"])
            return {**result, "status": "already_registered", "resource_id": resource["@id"]}

    resource = experiment_resource(
        experiment_name,
        provider_id=str(connector.get("@id", "")),
        description=description or f"MLflow experiment {experiment_name}",
    )
    catalog_id = connector["ids:resourceCatalog"][0]["@id"]
    answer = http.checked(
        "register experiment", "POST", base + "/api/offeredResource/", s.api_auth,
        body=resource, headers={"catalog": catalog_id},
    ).json()
    # Success means the connector's answer lists the resource, not merely a 200.
    if resource["@id"] not in {r.get("@id") for r in _resources(answer)}:
        raise IDSProtocolError("register experiment", "the connector did not keep the resource")
    log.info("Registered experiment %r as %s", experiment_name, resource["@id"])
    return {**result, "status": "registered", "resource_id": resource["@id"]}


def _connector(http: IdsHttp, url: str, s: IdsClientSettings) -> dict[str, Any]:
    response = http.checked("self description", "GET", url, s.api_auth)
    try:
        connector = response.json()
        connector["ids:resourceCatalog"][0]["@id"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise IDSProtocolError("self description", "no resource catalog in the answer") from exc
    return connector


def _resources(connector: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        resources = connector["ids:resourceCatalog"][0].get("ids:offeredResource") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return []
    return [r for r in resources if isinstance(r, dict)]

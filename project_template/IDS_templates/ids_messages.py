"""Bodies of the data app's `/proxy` requests and the JSON-LD objects the client sends."""

from __future__ import annotations

import uuid
from typing import Any

CONTEXT = {"ids": "https://w3id.org/idsa/core/", "idsc": "https://w3id.org/idsa/code/"}
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
USE_ACTION = "https://w3id.org/idsa/code/USE"


def forward_to(edge_host: str, edge_port: str | int) -> str:
    return f"https://{edge_host}:{edge_port}/data"


def proxy_body(message_type: str, target: str, **fields: Any) -> dict[str, Any]:
    """A `/proxy` request; fields whose value is None are left out."""
    body: dict[str, Any] = {"multipart": "form", "Forward-To": target, "messageType": message_type}
    body.update({name: value for name, value in fields.items() if value is not None})
    return body


def contract_request(offer: dict[str, Any], consumer_id: str) -> dict[str, Any]:
    """An `ids:ContractRequest` asking for the permissions of `offer`."""
    return {
        "@context": CONTEXT,
        "@type": "ids:ContractRequest",
        "@id": offer["@id"],
        "ids:permission": offer.get("ids:permission", []),
        "ids:provider": offer.get("ids:provider", {}),
        "ids:obligation": [],
        "ids:prohibition": [],
        "ids:consumer": {"@id": consumer_id},
    }


def first_title(resource: dict[str, Any]) -> str:
    titles = resource.get("ids:title") or []
    if titles and isinstance(titles[0], dict):
        return str(titles[0].get("@value", ""))
    return ""


def artifact_ids(resource: dict[str, Any]) -> list[str]:
    return [
        instance.get("@id", "")
        for representation in resource.get("ids:representation") or []
        for instance in representation.get("ids:instance") or []
    ]


def _typed(value: str) -> list[dict[str, str]]:
    return [{"@value": value, "@type": XSD_STRING}]


def experiment_resource(experiment_name: str, provider_id: str, description: str) -> dict[str, Any]:
    """The resource that registers an MLflow experiment (artifact `mlflow:<name>`).

    Every id is derived from the experiment name, so registering twice writes the same resource:
    the connector replaces a resource with the same `@id`, which makes registration idempotent.
    """
    artifact_id = f"mlflow:{experiment_name}"
    seed = uuid.uuid5(uuid.NAMESPACE_URL, artifact_id)
    autogen = "https://w3id.org/idsa/autogen"
    return {
        "@context": CONTEXT,
        "@type": "ids:TextResource",
        "@id": f"{autogen}/textResource/{seed}",
        "ids:title": _typed(experiment_name),
        "ids:description": _typed(description),
        "ids:keyword": _typed("mlflow") + _typed("experiment"),
        "ids:language": [{"@id": "https://w3id.org/idsa/code/EN"}],
        "ids:version": "1.0.0",
        "ids:contractOffer": [{
            "@type": "ids:ContractOffer",
            "@id": f"{autogen}/contractOffer/{seed}",
            "ids:provider": {"@id": provider_id},
            "ids:permission": [{
                "@type": "ids:Permission",
                "@id": f"{autogen}/permission/{seed}",
                "ids:target": {"@id": artifact_id},
                "ids:action": [{"@id": USE_ACTION}],
            }],
        }],
        "ids:representation": [{
            "@type": "ids:TextRepresentation",
            "@id": f"{autogen}/representation/{seed}",
            "ids:instance": [{"@type": "ids:Artifact", "@id": artifact_id}],
        }],
    }

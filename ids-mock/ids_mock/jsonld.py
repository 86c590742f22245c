"""Builders of the IDS information model objects (JSON-LD) that the TRUE Connector exchanges."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

IDS = "https://w3id.org/idsa/core/"
IDSC = "https://w3id.org/idsa/code/"
CONTEXT = {"ids": IDS, "idsc": IDSC}
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_TIMESTAMP = "http://www.w3.org/2001/XMLSchema#dateTimeStamp"
MODEL_VERSION = "4.2.7"
AUTOGEN = "https://w3id.org/idsa/autogen/"
USE_ACTION = IDSC + "USE"


def autogen_id(kind: str) -> str:
    """A fresh id in the style of the IDS Java library (`.../autogen/<kind>/<uuid>`)."""
    return f"{AUTOGEN}{kind}/{uuid.uuid4()}"


def now_timestamp() -> dict[str, str]:
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"@value": stamp, "@type": XSD_TIMESTAMP}


def typed_string(value: str) -> list[dict[str, str]]:
    return [{"@value": value, "@type": XSD_STRING}]


def ref(value: str) -> dict[str, str]:
    return {"@id": value}


def ref_value(value: Any) -> str | None:
    """The id of `{"@id": x}` or of a plain string, as real connectors send either form."""
    if isinstance(value, dict):
        value = value.get("@id")
    if isinstance(value, list) and value:
        return ref_value(value[0])
    return value if isinstance(value, str) and value else None


def first_title(resource: dict[str, Any]) -> str:
    titles = resource.get("ids:title") or []
    if isinstance(titles, list) and titles and isinstance(titles[0], dict):
        return str(titles[0].get("@value", ""))
    return ""


def strip_prefix(type_name: str) -> str:
    """`ids:ArtifactRequestMessage` -> `ArtifactRequestMessage`."""
    return type_name.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def security_token() -> dict[str, Any]:
    # The TRUE Connector sends this placeholder when DAPS is disabled, as it was in CLARUS.
    return {
        "@type": "ids:DynamicAttributeToken",
        "@id": autogen_id("dynamicAttributeToken"),
        "ids:tokenValue": "DummyTokenValue",
        "ids:tokenFormat": ref(IDSC + "JWT"),
    }


def message(
    message_type: str,
    issuer: str,
    *,
    correlation: str | None = None,
    recipient: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An IDS message header, e.g. `message("ArtifactRequestMessage", issuer, extra=...)`."""
    kind = message_type[0].lower() + message_type[1:]
    header: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": f"ids:{message_type}",
        "@id": autogen_id(kind),
        "ids:modelVersion": MODEL_VERSION,
        "ids:issued": now_timestamp(),
        "ids:issuerConnector": ref(issuer),
        "ids:senderAgent": ref(issuer),
        "ids:securityToken": security_token(),
        "ids:recipientConnector": [ref(recipient)] if recipient else [],
        "ids:recipientAgent": [],
    }
    if correlation:
        header["ids:correlationMessage"] = ref(correlation)
    if extra:
        header.update(extra)
    return header


def rejection(issuer: str, reason: str, correlation: str | None, recipient: str | None) -> dict:
    return message(
        "RejectionMessage",
        issuer,
        correlation=correlation,
        recipient=recipient,
        extra={"ids:rejectionReason": ref(IDSC + reason)},
    )


def contract_offer(provider: str, artifact_id: str) -> dict[str, Any]:
    return {
        "@type": "ids:ContractOffer",
        "@id": autogen_id("contractOffer"),
        "ids:provider": ref(provider),
        "ids:permission": [
            {
                "@type": "ids:Permission",
                "@id": autogen_id("permission"),
                "ids:target": ref(artifact_id),
                "ids:action": [ref(USE_ACTION)],
                "ids:description": typed_string("provide-access"),
                "ids:title": typed_string("Allow Access Usage Policy"),
                "ids:constraint": [],
                "ids:postDuty": [],
                "ids:preDuty": [],
            }
        ],
        "ids:obligation": [],
        "ids:prohibition": [],
        "ids:contractDate": now_timestamp(),
    }


def text_resource(
    *,
    provider: str,
    title: str,
    description: str,
    artifact_id: str,
    file_name: str | None = None,
    byte_size: int | None = None,
    checksum: str | None = None,
    media_type: str = "text/csv",
    resource_id: str | None = None,
) -> dict[str, Any]:
    """An `ids:TextResource` with one contract offer and one representation of one artifact."""
    artifact: dict[str, Any] = {
        "@type": "ids:Artifact",
        "@id": artifact_id,
        "ids:creationDate": now_timestamp(),
    }
    if file_name is not None:
        artifact["ids:fileName"] = file_name
    if byte_size is not None:
        artifact["ids:byteSize"] = byte_size
    if checksum is not None:
        artifact["ids:checkSum"] = checksum
    return {
        "@context": CONTEXT,
        "@type": "ids:TextResource",
        "@id": resource_id or autogen_id("textResource"),
        "ids:title": typed_string(title),
        "ids:description": typed_string(description),
        "ids:language": [ref(IDSC + "EN")],
        "ids:version": "1.0.0",
        "ids:created": now_timestamp(),
        "ids:modified": now_timestamp(),
        "ids:keyword": [],
        "ids:contractOffer": [contract_offer(provider, artifact_id)],
        "ids:representation": [
            {
                "@type": "ids:TextRepresentation",
                "@id": autogen_id("representation"),
                "ids:mediaType": {"@type": "ids:IANAMediaType", "@id": autogen_id("mediaType"),
                                  "ids:filenameExtension": media_type.rsplit("/", 1)[-1]},
                "ids:language": ref(IDSC + "EN"),
                "ids:instance": [artifact],
            }
        ],
    }


def connector(
    connector_id: str,
    catalog_id: str,
    resources: list[dict[str, Any]],
    access_url: str,
    role: str,
) -> dict[str, Any]:
    """The self-description of a connector (`ids:BaseConnector`) with its one resource catalog."""
    return {
        "@context": CONTEXT,
        "@type": "ids:BaseConnector",
        "@id": connector_id,
        "ids:title": typed_string(f"TRUE Connector mock ({role})"),
        "ids:description": typed_string(
            "Mock of the Engineering IDS TRUE Connector for local MLOps experiments"
        ),
        "ids:curator": ref("http://w3id.org/engrd/connector/curator"),
        "ids:maintainer": ref("http://w3id.org/engrd/connector/maintainer"),
        "ids:outboundModelVersion": MODEL_VERSION,
        "ids:inboundModelVersion": [MODEL_VERSION],
        "ids:securityProfile": ref(IDSC + "BASE_SECURITY_PROFILE"),
        "ids:hasDefaultEndpoint": {
            "@type": "ids:ConnectorEndpoint",
            "@id": f"{connector_id}/endpoint",
            "ids:accessURL": ref(access_url),
        },
        "ids:resourceCatalog": [
            {
                "@type": "ids:ResourceCatalog",
                "@id": catalog_id,
                "ids:offeredResource": resources,
                "ids:requestedResource": [],
            }
        ],
    }


def contract_agreement(
    request: dict[str, Any], provider: str, consumer: str, artifact_id: str
) -> dict[str, Any]:
    """The agreement answering a contract request; its `@id` becomes the transfer contract."""
    permissions = request.get("ids:permission")
    if not isinstance(permissions, list) or not permissions:
        # Usage control is off, as in the CLARUS deployments: grant use of the artifact.
        permissions = contract_offer(provider, artifact_id)["ids:permission"]
    granted = []
    for permission in permissions:
        if not isinstance(permission, dict):
            continue
        granted.append({**permission, "ids:assigner": [ref(provider)],
                        "ids:assignee": [ref(consumer)]})
    return {
        "@context": CONTEXT,
        "@type": "ids:ContractAgreement",
        "@id": autogen_id("contractAgreement"),
        "ids:provider": ref(provider),
        "ids:consumer": ref(consumer),
        "ids:permission": granted,
        "ids:obligation": [],
        "ids:prohibition": [],
        "ids:contractDate": now_timestamp(),
        "ids:contractStart": now_timestamp(),
    }

"""The five-step consumer flow driven with plain /proxy JSON requests, step by step."""

from __future__ import annotations

from dataclasses import dataclass

from .mock_processes import MockProcess, proxy_json

CONTEXT = {"ids": "https://w3id.org/idsa/core/", "idsc": "https://w3id.org/idsa/code/"}


@dataclass
class Contract:
    resource_id: str
    artifact_id: str
    transfer_contract: str
    agreement: dict


def resource_id_by_title(cloud: MockProcess, forward_to: str, title: str) -> str:
    answer = proxy_json(cloud, {"multipart": "form", "Forward-To": forward_to,
                                "messageType": "DescriptionRequestMessage"})
    assert answer.status_code == 200, answer.text
    for resource in answer.json()["ids:resourceCatalog"][0]["ids:offeredResource"]:
        if resource["ids:title"][0]["@value"] == title:
            return resource["@id"]
    raise AssertionError(f"{title} not offered")


def contract_for(cloud: MockProcess, forward_to: str, title: str) -> Contract:
    """Steps 1 to 4: find the resource, read its offer, get and confirm an agreement."""
    resource_id = resource_id_by_title(cloud, forward_to, title)
    resource = proxy_json(cloud, {"multipart": "form", "Forward-To": forward_to,
                                  "messageType": "DescriptionRequestMessage",
                                  "requestedElement": resource_id}).json()
    offer = resource["ids:contractOffer"][0]
    artifact_id = resource["ids:representation"][0]["ids:instance"][0]["@id"]
    agreement_answer = proxy_json(cloud, {
        "multipart": "form", "Forward-To": forward_to, "messageType": "ContractRequestMessage",
        "requestedElement": artifact_id,
        "payload": {"@context": CONTEXT, "@type": "ids:ContractRequest", "@id": offer["@id"],
                    "ids:permission": offer["ids:permission"], "ids:provider": offer["ids:provider"],
                    "ids:consumer": {"@id": "http://w3id.org/engrd/connector/consumer"}},
    })
    assert agreement_answer.status_code == 200, agreement_answer.text
    agreement = agreement_answer.json()
    confirmed = proxy_json(cloud, {"multipart": "form", "Forward-To": forward_to,
                                   "messageType": "ContractAgreementMessage",
                                   "requestedArtifact": artifact_id, "payload": agreement})
    assert confirmed.status_code == 200, confirmed.text
    return Contract(resource_id, artifact_id, agreement["@id"], agreement)


def artifact_body(forward_to: str, artifact_id: str, transfer_contract: str | None) -> dict:
    body = {"multipart": "form", "Forward-To": forward_to,
            "messageType": "ArtifactRequestMessage", "requestedArtifact": artifact_id}
    if transfer_contract is not None:
        body["transferContract"] = transfer_contract
    return body

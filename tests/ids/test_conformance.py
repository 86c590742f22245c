"""Protocol conformance of the mock, step by step and error by error, over HTTPS."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from requests_toolbelt.multipart.decoder import MultipartDecoder as ToolbeltDecoder

from .flow import CONTEXT, artifact_body, contract_for, resource_id_by_title
from .mock_processes import API_AUTH, CONNECTOR_AUTH, PEER_AUTH, offered, proxy_json

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def test_self_description_api_of_both_sides(ids_pair):
    for side, own_id in ((ids_pair.edge, "provider"), (ids_pair.cloud, "consumer")):
        for path in ("/", "/api/selfDescription/"):
            answer = httpx.get(side.api_url + path, auth=API_AUTH, verify=False)
            assert answer.status_code == 200
            connector = answer.json()
            assert connector["@type"] == "ids:BaseConnector"
            assert connector["@id"].endswith(own_id)
            assert connector["ids:resourceCatalog"][0]["@id"].startswith(
                "https://w3id.org/idsa/autogen/resourceCatalog/")
        version = httpx.get(side.api_url + "/about/version", auth=API_AUTH, verify=False)
        assert version.status_code == 200 and version.text
    titles = [r["ids:title"][0] for r in offered(ids_pair.edge)]
    assert {"@value": ids_pair.seed_title, "@type": XSD_STRING} in titles


def test_five_step_flow_field_by_field(ids_pair):
    cloud, target = ids_pair.cloud, ids_pair.forward_to
    # 1. Connector description, fetched from the edge by following Forward-To.
    first = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                               "messageType": "DescriptionRequestMessage"})
    assert first.status_code == 200
    edge_catalog = first.json()["ids:resourceCatalog"][0]
    assert first.json()["@id"] == "http://w3id.org/engrd/connector/provider"
    cloud_catalog_id = httpx.get(cloud.api_url + "/", auth=API_AUTH, verify=False).json()[
        "ids:resourceCatalog"][0]["@id"]
    assert edge_catalog["@id"] != cloud_catalog_id, "the answer must come from the edge"

    # 2. Resource description: the resource object itself, at top level.
    resource_id = resource_id_by_title(cloud, target, ids_pair.seed_title)
    resource = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                  "messageType": "DescriptionRequestMessage",
                                  "requestedElement": resource_id}).json()
    assert resource["@id"] == resource_id
    offer = resource["ids:contractOffer"][0]
    artifact_id = resource["ids:representation"][0]["ids:instance"][0]["@id"]
    assert offer["@id"] and offer["ids:provider"]["@id"] == "http://w3id.org/engrd/connector/provider"
    permission = offer["ids:permission"][0]
    assert permission["@id"] and permission["ids:target"]["@id"] == artifact_id
    assert permission["ids:action"] == [{"@id": "https://w3id.org/idsa/code/USE"}]

    # 3. Contract request -> agreement whose @id is the transfer contract. Usage control is off:
    #    a permission whose target is not the artifact is still granted.
    foreign_permission = {**permission, "ids:target": {"@id": "http://example.org/other"}}
    agreement_answer = proxy_json(cloud, {
        "multipart": "form", "Forward-To": target, "messageType": "ContractRequestMessage",
        "requestedElement": artifact_id,
        "payload": {"@context": CONTEXT, "@type": "ids:ContractRequest", "@id": offer["@id"],
                    "ids:permission": [foreign_permission], "ids:provider": offer["ids:provider"],
                    "ids:consumer": {"@id": "http://w3id.org/engrd/connector/consumer"}},
    })
    assert agreement_answer.status_code == 200
    agreement = agreement_answer.json()
    assert agreement["@type"] == "ids:ContractAgreement"
    assert agreement["@id"].startswith("https://w3id.org/idsa/autogen/contractAgreement/")
    uuid.UUID(agreement["@id"].rsplit("/", 1)[1])

    # 4. Agreement message -> text/plain MessageProcessedNotificationMessage.
    processed = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                   "messageType": "ContractAgreementMessage",
                                   "requestedArtifact": artifact_id, "payload": agreement})
    assert processed.status_code == 200
    assert processed.headers["content-type"].startswith("text/plain")
    assert processed.text == "MessageProcessedNotificationMessage"

    # 5. Artifact: the raw bytes of the offered file, no base64.
    artifact = proxy_json(cloud, artifact_body(target, artifact_id, agreement["@id"]))
    assert artifact.status_code == 200
    assert artifact.content == ids_pair.seed_file.read_bytes()


def _edge_message(edge, header: dict, payload: bytes | None = None, subtype: str = "form-data",
                  auth=PEER_AUTH) -> httpx.Response:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="header"\r\n'
             f"Content-Type: application/ld+json\r\n\r\n".encode() + json.dumps(header).encode()]
    if payload is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
                     .encode() + payload)
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return httpx.post(edge.message_url, content=body, auth=auth, verify=False,
                      headers={"content-type": f"multipart/{subtype}; boundary={boundary}"})


def _parts(answer: httpx.Response) -> dict[str, bytes]:
    decoded = ToolbeltDecoder(answer.content, answer.headers["content-type"])
    result = {}
    for part in decoded.parts:
        disposition = part.headers[b"Content-Disposition"].decode()
        result[disposition.split('name="')[1].split('"')[0]] = part.content
    return result


@pytest.mark.parametrize("subtype", ["form-data", "mixed"])
def test_edge_answers_ids_multipart_messages(ids_pair, subtype):
    request_header = {"@context": CONTEXT, "@type": "ids:DescriptionRequestMessage",
                      "@id": f"https://w3id.org/idsa/autogen/descriptionRequestMessage/{uuid.uuid4()}",
                      "ids:issuerConnector": {"@id": "http://example.org/real-connector"}}
    answer = _edge_message(ids_pair.edge, request_header, subtype=subtype)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(f"multipart/{subtype}")
    parts = _parts(answer)
    header = json.loads(parts["header"])
    assert header["@type"] == "ids:DescriptionResponseMessage"
    assert header["ids:correlationMessage"]["@id"] == request_header["@id"]
    assert header["ids:recipientConnector"] == [{"@id": "http://example.org/real-connector"}]
    assert header["ids:issuerConnector"]["@id"] == "http://w3id.org/engrd/connector/provider"
    assert header["ids:securityToken"]["@type"] == "ids:DynamicAttributeToken"
    assert json.loads(parts["payload"])["@type"] == "ids:BaseConnector"


def test_edge_rejections_are_ids_rejection_messages(ids_pair):
    unknown = _edge_message(ids_pair.edge, {"@type": "ids:DescriptionRequestMessage", "@id": "x",
                                            "ids:requestedElement": {"@id": "http://nope"}})
    assert json.loads(_parts(unknown)["header"])["ids:rejectionReason"] == {
        "@id": "https://w3id.org/idsa/code/NOT_FOUND"}
    no_element = _edge_message(ids_pair.edge, {"@type": "ids:ContractRequestMessage", "@id": "y"},
                               b"{}")
    assert json.loads(_parts(no_element)["header"])["ids:rejectionReason"]["@id"].endswith(
        "BAD_PARAMETERS")
    not_multipart = httpx.post(ids_pair.edge.message_url, json={}, auth=PEER_AUTH,
                               verify=False)
    assert not_multipart.status_code == 400


@pytest.mark.parametrize("missing", ["multipart", "messageType"])
def test_proxy_missing_required_field_is_400(ids_pair, missing):
    body = {"multipart": "form", "Forward-To": ids_pair.forward_to,
            "messageType": "DescriptionRequestMessage"}
    del body[missing]
    answer = proxy_json(ids_pair.cloud, body)
    assert answer.status_code == 400
    assert missing in answer.text


def test_rejection_bodies_and_statuses(ids_pair):
    cloud, target = ids_pair.cloud, ids_pair.forward_to
    not_found = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                   "messageType": "DescriptionRequestMessage",
                                   "requestedElement": "https://w3id.org/idsa/autogen/x/1"})
    assert (not_found.status_code, not_found.text) == (
        404, "Rejection occured with reason: NOT_FOUND")
    contract = contract_for(cloud, target, ids_pair.seed_title)
    not_authorized = proxy_json(cloud, artifact_body(target, contract.artifact_id,
                                                     "https://w3id.org/idsa/autogen/forged/1"))
    assert (not_authorized.status_code, not_authorized.text) == (
        401, "Rejection occured with reason: NOT_AUTHORIZED")
    # An artifact reference without an id reaches the edge as a message without the field.
    bad_parameters = proxy_json(cloud, artifact_body(target, {"@id": ""},
                                                     contract.transfer_contract))
    assert (bad_parameters.status_code, bad_parameters.text) == (
        500, "Rejection occured with reason: BAD_PARAMETERS")


def test_transport_failure_is_500_message_could_not_be_processed(ids_pair):
    answer = proxy_json(ids_pair.cloud, {"multipart": "form", "Forward-To": ids_pair.closed_peer,
                                         "messageType": "DescriptionRequestMessage"})
    assert (answer.status_code, answer.text) == (500, "Message could not be processed")


def test_cloud_accepts_experiment_registration(ids_pair):
    cloud = ids_pair.cloud
    catalog_id = httpx.get(cloud.api_url + "/", auth=API_AUTH, verify=False).json()[
        "ids:resourceCatalog"][0]["@id"]
    resource = {"@context": CONTEXT, "@type": "ids:TextResource",
                "@id": f"https://w3id.org/idsa/autogen/textResource/{uuid.uuid4()}",
                "ids:title": [{"@value": "conformance-exp", "@type": XSD_STRING}],
                "ids:representation": [{"@type": "ids:TextRepresentation", "@id": "urn:r:1",
                                        "ids:instance": [{"@type": "ids:Artifact",
                                                          "@id": "mlflow:conformance-exp"}]}]}
    answer = httpx.post(cloud.api_url + "/api/offeredResource/", json=resource, verify=False,
                        auth=API_AUTH, headers={"catalog": catalog_id})
    assert answer.status_code == 200
    assert resource["@id"] in [r["@id"] for r in
                               answer.json()["ids:resourceCatalog"][0]["ids:offeredResource"]]
    # Same @id again: replaced, not duplicated.
    resource["ids:title"][0]["@value"] = "conformance-exp-renamed"
    httpx.post(cloud.api_url + "/api/offeredResource/", json=resource, verify=False,
               auth=API_AUTH, headers={"catalog": catalog_id}).raise_for_status()
    mine = [r for r in offered(cloud) if r["@id"] == resource["@id"]]
    assert [r["ids:title"][0]["@value"] for r in mine] == ["conformance-exp-renamed"]
    fetched = httpx.get(cloud.api_url + "/api/offeredResource/", verify=False, auth=API_AUTH,
                        headers={"resource": resource["@id"]})
    assert fetched.json()["@id"] == resource["@id"]
    deleted = httpx.delete(cloud.api_url + "/api/offeredResource/", verify=False, auth=API_AUTH,
                           headers={"resource": resource["@id"]})
    assert deleted.status_code == 200
    assert resource["@id"] not in [r["@id"] for r in offered(cloud)]


@pytest.mark.parametrize("side", ["edge", "cloud"])
@pytest.mark.parametrize("port", ["message", "api"])
def test_every_endpoint_requires_basic_auth(ids_pair, side, port):
    process = getattr(ids_pair, side)
    url = process.message_url if port == "message" else process.api_url + "/"
    for auth in (None, ("connector", "wrong"), ("admin", "wrong")):
        answer = httpx.post(url, auth=auth, verify=False, json={})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
    # Each port takes its own user: connector for messages, admin for the API.
    swapped = API_AUTH if port == "message" else CONNECTOR_AUTH
    assert httpx.get(url, auth=swapped, verify=False).status_code == 401


def test_fault_injection_via_admin_endpoint(ids_pair):
    cloud, target = ids_pair.cloud, ids_pair.forward_to
    faults_url = cloud.api_url + "/admin/faults"
    body = {"multipart": "form", "Forward-To": target, "messageType": "DescriptionRequestMessage"}
    try:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={
            "status_by_message_type": {"DescriptionRequestMessage": 502}}).raise_for_status()
        assert proxy_json(cloud, body).status_code == 502
        httpx.put(faults_url, auth=API_AUTH, verify=False,
                  json={"latency_ms": 400}).raise_for_status()
        started = time.monotonic()
        assert proxy_json(cloud, body).status_code == 200
        assert time.monotonic() - started >= 0.4
        httpx.put(faults_url, auth=API_AUTH, verify=False,
                  json={"error_rate": 1.0, "error_status": 500}).raise_for_status()
        assert proxy_json(cloud, body).status_code == 500
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={"fail_next": 1}).raise_for_status()
        assert [proxy_json(cloud, body).status_code for _ in range(2)] == [503, 200]
        assert httpx.put(faults_url, auth=API_AUTH, verify=False,
                         json={"error_rate": 2}).status_code == 400
    finally:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={}).raise_for_status()
    assert httpx.get(faults_url, auth=API_AUTH, verify=False).json()["error_rate"] == 0.0
    assert proxy_json(cloud, body).status_code == 200


def test_faults_from_environment(monkeypatch):
    from ids_mock.faults import Faults

    monkeypatch.setenv("IDS_FAULT_LATENCY_MS", "25")
    monkeypatch.setenv("IDS_FAULT_ERROR_RATE", "0.5")
    monkeypatch.setenv("IDS_FAULT_STATUS", "ArtifactRequestMessage=503, ContractRequestMessage=500")
    faults = Faults.from_env()
    assert faults.latency_ms == 25 and faults.error_rate == 0.5
    assert faults.status_by_message_type == {"ArtifactRequestMessage": 503,
                                             "ContractRequestMessage": 500}
    monkeypatch.delenv("IDS_FAULT_STATUS")
    monkeypatch.delenv("IDS_FAULT_ERROR_RATE")
    monkeypatch.delenv("IDS_FAULT_LATENCY_MS")
    assert Faults.from_env() == Faults()


def test_multipart_decoder_handles_any_chunking():
    from ids_mock.multipart_codec import (
        MultipartDecoder,
        MultipartError,
        PartData,
        PartStart,
        encode_message,
    )

    payload = b"a;b\r\n--not-the-boundary\r\n" + bytes(range(256)) * 3
    body = encode_message("bnd", {"@type": "ids:ArtifactResponseMessage"}, payload)
    for size in (1, 2, 7, 64, len(body)):
        decoder = MultipartDecoder("bnd")
        got: dict[str, bytes] = {}
        name = ""
        for start in range(0, len(body), size):
            for event in decoder.feed(body[start:start + size]):
                if isinstance(event, PartStart):
                    name = event.name
                    got[name] = b""
                elif isinstance(event, PartData):
                    got[name] += event.data
        decoder.close()
        assert got["payload"] == payload
        assert json.loads(got["header"]) == {"@type": "ids:ArtifactResponseMessage"}
    truncated = MultipartDecoder("bnd")
    truncated.feed(body[:-10])
    with pytest.raises(MultipartError):
        truncated.close()

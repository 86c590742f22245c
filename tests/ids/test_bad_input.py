"""Bad input: each is refused with a clean 4xx, and both catalogs stay exactly as they were."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from .conftest import MAX_PAYLOAD_MB
from .flow import artifact_body, contract_for, resource_id_by_title
from .mock_processes import API_AUTH, PEER_AUTH, description, proxy_json

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


@pytest.fixture
def intact_catalogs(ids_pair):
    """Fails the test if either side's catalog changed."""
    before = (description(ids_pair.edge), description(ids_pair.cloud))
    artifacts = sorted(os.listdir(ids_pair.edge.data_dir / "artifacts"))
    yield
    assert (description(ids_pair.edge), description(ids_pair.cloud)) == before
    assert sorted(os.listdir(ids_pair.edge.data_dir / "artifacts")) == artifacts


def _catalog_id(process) -> str:
    return description(process)["ids:resourceCatalog"][0]["@id"]


def _resource(file_name: str | None, title: str = "bad-input") -> dict:
    artifact = {"@type": "ids:Artifact", "@id": f"urn:artifact:{uuid.uuid4()}"}
    if file_name is not None:
        artifact["ids:fileName"] = file_name
    return {"@type": "ids:TextResource", "@id": f"urn:resource:{uuid.uuid4()}",
            "ids:title": [{"@value": title, "@type": XSD_STRING}],
            "ids:representation": [{"@type": "ids:TextRepresentation", "@id": "urn:rep:x",
                                    "ids:instance": [artifact]}]}


def _offer_resource(edge, body: bytes | dict, catalog: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if catalog is not None:
        headers["catalog"] = catalog
    kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
    return httpx.post(edge.api_url + "/api/offeredResource/", headers=headers, auth=API_AUTH,
                      verify=False, **kwargs)


@pytest.mark.usefixtures("intact_catalogs")
@pytest.mark.parametrize("raw", [b'{"multipart": "form", ', b"[1, 2]", b"\xff\xfe{}", b""])
def test_malformed_proxy_body_is_400(ids_pair, raw):
    answer = proxy_json(ids_pair.cloud, raw)
    assert answer.status_code == 400, answer.text


@pytest.mark.usefixtures("intact_catalogs")
def test_malformed_resource_json_is_400(ids_pair):
    answer = _offer_resource(ids_pair.edge, b'{"@id": ', _catalog_id(ids_pair.edge))
    assert answer.status_code == 400 and "not valid JSON" in answer.text


@pytest.mark.usefixtures("intact_catalogs")
def test_unknown_message_type_is_400(ids_pair):
    answer = proxy_json(ids_pair.cloud, {"multipart": "form", "Forward-To": ids_pair.forward_to,
                                         "messageType": "DeleteEverythingMessage"})
    assert answer.status_code == 400 and "Unsupported messageType" in answer.text


@pytest.mark.usefixtures("intact_catalogs")
def test_unknown_resource_and_artifact_are_404(ids_pair):
    cloud, target = ids_pair.cloud, ids_pair.forward_to
    unknown_resource = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                          "messageType": "DescriptionRequestMessage",
                                          "requestedElement": "urn:resource:unknown"})
    assert unknown_resource.status_code == 404
    unknown_for_contract = proxy_json(cloud, {
        "multipart": "form", "Forward-To": target, "messageType": "ContractRequestMessage",
        "requestedElement": "urn:artifact:unknown", "payload": {"@id": "urn:offer:x"}})
    assert unknown_for_contract.status_code == 404
    contract = contract_for(cloud, target, ids_pair.seed_title)
    unknown_artifact = proxy_json(cloud, artifact_body(target, "urn:artifact:unknown",
                                                       contract.transfer_contract))
    assert unknown_artifact.status_code == 404


@pytest.mark.usefixtures("intact_catalogs")
def test_missing_or_unknown_transfer_contract(ids_pair):
    cloud, target = ids_pair.cloud, ids_pair.forward_to
    resource_id = resource_id_by_title(cloud, target, ids_pair.seed_title)
    resource = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                  "messageType": "DescriptionRequestMessage",
                                  "requestedElement": resource_id}).json()
    artifact_id = resource["ids:representation"][0]["ids:instance"][0]["@id"]
    missing = proxy_json(cloud, artifact_body(target, artifact_id, None))
    assert missing.status_code == 400 and "transferContract" in missing.text
    unknown = proxy_json(cloud, artifact_body(target, artifact_id, "urn:agreement:unknown"))
    assert (unknown.status_code, unknown.text) == (401, "Rejection occured with reason: NOT_AUTHORIZED")
    forged_agreement = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                          "messageType": "ContractAgreementMessage",
                                          "payload": {"@id": "urn:agreement:forged"}})
    assert forged_agreement.status_code == 404
    malformed_agreement = proxy_json(cloud, {"multipart": "form", "Forward-To": target,
                                             "messageType": "ContractAgreementMessage",
                                             "payload": "{not json"})
    assert (malformed_agreement.status_code, malformed_agreement.text) == (
        400, "Rejection occured with reason: MALFORMED_MESSAGE")


@pytest.mark.usefixtures("intact_catalogs")
def test_wrong_credentials_are_401(ids_pair):
    for url, auth in ((ids_pair.cloud.message_url, ("connector", "guess")),
                      (ids_pair.edge.api_url + "/", ("admin", "guess")),
                      (ids_pair.edge.api_url + "/", ("root", "password"))):
        assert httpx.get(url, auth=auth, verify=False).status_code == 401
    answer = _offer_resource(ids_pair.edge, _resource(None), _catalog_id(ids_pair.edge))
    assert answer.status_code == 200  # the same call with the right credentials works...
    httpx.delete(ids_pair.edge.api_url + "/api/offeredResource/", auth=API_AUTH, verify=False,
                 headers={"resource": answer.json()["ids:resourceCatalog"][0][
                     "ids:offeredResource"][-1]["@id"]}).raise_for_status()  # ...and is undone


@pytest.mark.usefixtures("intact_catalogs")
def test_oversized_payload_is_413_with_a_clear_message(ids_pair):
    limit = int(float(MAX_PAYLOAD_MB) * 1024 * 1024)
    big = {"multipart": "form", "Forward-To": ids_pair.forward_to,
           "messageType": "ContractAgreementMessage", "payload": "x" * (limit + 10)}
    answer = proxy_json(ids_pair.cloud, big)
    assert answer.status_code == 413
    assert "Payload too large" in answer.text and "IDS_MAX_PAYLOAD_MB" in answer.text
    # Without Content-Length (chunked), the limit holds as well.
    chunks = (b"x" * 65536 for _ in range(limit // 65536 + 2))
    streamed = httpx.post(ids_pair.edge.message_url, content=chunks, verify=False,
                          auth=PEER_AUTH,
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413


@pytest.mark.usefixtures("intact_catalogs")
@pytest.mark.parametrize("file_name", [
    "../catalog.json", "../../certs/ids-mock-edge.key", "/etc/passwd", "..", "sub/../../x",
    "missing-file.csv",
])
def test_artifact_location_outside_the_data_folder_is_refused(ids_pair, file_name):
    answer = _offer_resource(ids_pair.edge, _resource(file_name), _catalog_id(ids_pair.edge))
    assert answer.status_code == 400, answer.text
    assert "Resource refused" in answer.text


@pytest.mark.usefixtures("intact_catalogs")
def test_symlink_out_of_the_data_folder_is_refused(ids_pair, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    link = ids_pair.edge.data_dir / "artifacts" / "innocent.csv"
    link.symlink_to(outside)
    try:
        answer = _offer_resource(ids_pair.edge, _resource("innocent.csv"),
                                 _catalog_id(ids_pair.edge))
        assert answer.status_code == 400 and "outside the data folder" in answer.text
    finally:
        link.unlink()


@pytest.mark.usefixtures("intact_catalogs")
def test_missing_or_unknown_catalog_header(ids_pair):
    assert _offer_resource(ids_pair.edge, _resource(None), None).status_code == 400
    assert _offer_resource(ids_pair.edge, _resource(None), "urn:catalog:other").status_code == 404


@pytest.mark.usefixtures("intact_catalogs")
def test_non_utf8_titles_are_refused(ids_pair):
    raw = (b'{"@id": "urn:resource:latin1", "@type": "ids:TextResource", '
           b'"ids:title": [{"@value": "caf\xe9"}]}')
    answer = _offer_resource(ids_pair.edge, raw, _catalog_id(ids_pair.edge))
    assert answer.status_code == 400 and "UTF-8" in answer.text
    upload = httpx.post(ids_pair.edge.api_url + "/api/offeredFile/?title=caf%E9&fileName=x.csv",
                        content=b"a;b\n", auth=API_AUTH, verify=False)
    assert upload.status_code == 400 and "UTF-8" in upload.text
    proxied = proxy_json(ids_pair.cloud, b'{"multipart": "form", "messageType": "caf\xe9"}')
    assert proxied.status_code == 400 and "UTF-8" in proxied.text


@pytest.mark.usefixtures("intact_catalogs")
def test_upload_without_title_is_refused(ids_pair):
    answer = httpx.post(ids_pair.edge.api_url + "/api/offeredFile/?fileName=x.csv",
                        content=b"a;b\n", auth=API_AUTH, verify=False)
    assert answer.status_code == 400 and "title" in answer.text

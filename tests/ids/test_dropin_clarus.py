"""Requests shaped exactly like the original CLARUS client's: string-built JSON, fixed Basic headers."""

from __future__ import annotations

import base64
import json
import warnings
from io import StringIO

import pandas as pd
import requests
from urllib3.exceptions import InsecureRequestWarning

# The original client hard-coded these headers: the TRUE Connector's published default users.
CONNECTOR_HEADER = "Basic Y29ubmVjdG9yOnBhc3N3b3Jk"
ADMIN_HEADER = "Basic YWRtaW46cGFzc3dvcmQ="


def test_hard_coded_headers_are_the_published_defaults():
    assert base64.b64decode(CONNECTOR_HEADER.split()[1]) == b"connector:password"
    assert base64.b64decode(ADMIN_HEADER.split()[1]) == b"admin:password"


def _post(url: str, msg: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "Authorization": CONNECTOR_HEADER}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        return requests.post(url, data=msg, headers=headers, verify=False, timeout=10)


def _get(url: str) -> requests.Response:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        return requests.get(url, headers={"Authorization": ADMIN_HEADER}, verify=False, timeout=10)


def test_original_client_flow_and_registration(ids_pair):
    provider_ip, provider_port = "127.0.0.1", str(ids_pair.edge.message_port)
    proxy = "https://127.0.0.1:" + str(ids_pair.cloud.message_port) + "/proxy"

    body = "{ "
    body = body + ' "multipart": "form" , "Forward-To": "https://'
    body = body + provider_ip + ":" + provider_port + '/data" ,'
    body = body + ' "messageType": "DescriptionRequestMessage" '
    body = body + "} "
    response = _post(proxy, body)
    assert response.status_code == 200
    resource_id = None
    for resource in response.json()["ids:resourceCatalog"][0]["ids:offeredResource"]:
        if ids_pair.seed_title in resource["ids:title"][0]["@value"]:
            resource_id = resource["@id"]
            break
    assert resource_id is not None

    body = "{ "
    body = body + ' "multipart": "form" , "Forward-To": "https://'
    body = body + provider_ip + ":" + provider_port + '/data" ,'
    body = body + ' "messageType": "DescriptionRequestMessage",'
    body = body + ' "requestedElement": ' + '"' + resource_id + '"'
    body = body + "} "
    response = _post(proxy, body)
    assert response.status_code == 200
    data = response.json()
    contract_artifact = data["ids:representation"][0]["ids:instance"][0]["@id"]
    contract_id = data["ids:contractOffer"][0]["@id"]
    contract_permission = json.dumps(data["ids:contractOffer"][0]["ids:permission"][0])
    contract_provider = data["ids:contractOffer"][0]["ids:provider"]["@id"]

    body = "{ "
    body = body + ' "multipart": "form" , "Forward-To": "https://'
    body = body + provider_ip + ":" + provider_port + '/data" ,'
    body = body + ' "messageType": "ContractRequestMessage",'
    body = body + ' "requestedElement": ' + '"' + contract_artifact + '" ,'
    body = body + '  "payload": { '
    body = body + ' "@context": {"ids": "https://w3id.org/idsa/core/","idsc": "https://w3id.org/idsa/code/"},"@type": "ids:ContractRequest",   '  # noqa: E501
    body = body + ' "@id": ' + '"' + contract_id + '" ,'
    body = body + ' "ids:permission":[ ' + contract_permission + "  ],"
    body = body + ' "ids:provider":{ "@id": ' + '"' + contract_provider + '" },'
    body = body + ' "ids:obligation":[], '
    body = body + ' "ids:prohibition":[], '
    body = body + ' "ids:consumer":{ "@id": "http://w3id.org/engrd/connector/consumer" } '
    body = body + "} "
    body = body + "} "
    response = _post(proxy, body)
    assert response.status_code == 200
    contract_agreement = json.dumps(response.json())
    transfer_contract = response.json()["@id"]

    body = "{ "
    body = body + ' "multipart": "form" , "Forward-To": "https://'
    body = body + provider_ip + ":" + provider_port + '/data" ,'
    body = body + ' "messageType": "ContractAgreementMessage",'
    body = body + ' "requestedArtifact": ' + '"' + contract_artifact + '" ,'
    body = body + '  "payload": ' + contract_agreement
    body = body + "} "
    response = _post(proxy, body)
    assert response.status_code == 200

    body = "{ "
    body = body + ' "multipart": "form" , "Forward-To": "https://'
    body = body + provider_ip + ":" + provider_port + '/data" ,'
    body = body + ' "messageType": "ArtifactRequestMessage",'
    body = body + ' "requestedArtifact": ' + '"' + contract_artifact + '" ,'
    body = body + ' "transferContract": ' + '"' + transfer_contract + '" '
    body = body + "} "
    response = _post(proxy, body)
    assert response.status_code == 200
    artifact_data = StringIO(response.content.decode("utf-8"))
    frame = pd.read_csv(artifact_data, delimiter=";", quotechar='"')
    expected = pd.read_csv(ids_pair.seed_file, delimiter=";", quotechar='"')
    pd.testing.assert_frame_equal(frame, expected)

    # Registration, as the CLARUS ECC clients did it: catalog id from GET /, then POST the resource.
    api = "https://127.0.0.1:" + str(ids_pair.cloud.api_port)
    catalog = _get(api).json()["ids:resourceCatalog"][0]["@id"]
    resource = (
        '{"@context": {"ids": "https://w3id.org/idsa/core/"}, "@type": "ids:TextResource", '
        '"@id": "https://w3id.org/idsa/autogen/textResource/dropin-exp", '
        '"ids:title": [{"@value": "dropin-exp", '
        '"@type": "http://www.w3.org/2001/XMLSchema#string"}], '
        '"ids:representation": [{"@type": "ids:TextRepresentation", "@id": "urn:dropin:rep", '
        '"ids:instance": [{"@type": "ids:Artifact", "@id": "mlflow:dropin-exp"}]}]}'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        registered = requests.post(
            api + "/api/offeredResource/", data=resource, verify=False, timeout=10,
            headers={"Content-Type": "application/json", "Authorization": ADMIN_HEADER,
                     "catalog": catalog})
    assert registered.status_code == 200
    titles = [r["ids:title"][0]["@value"]
              for r in _get(api).json()["ids:resourceCatalog"][0]["ids:offeredResource"]]
    assert "dropin-exp" in titles

"""The cloud's `/proxy` forwards only to the peers it knows, with each peer's own login.

Each test is an abuse of the data app as a caller with the data app's login could try it: read the
credentials with a listener of its own, lock the edge or the cloud out through `/proxy`, or crash
it with a malformed `Forward-To`. The mocks run with the real lockout policy (5 failures, 30 min).
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from .conftest import SEED_TITLE, write_seed_csv
from .flow import resource_id_by_title
from .mock_processes import (
    API_AUTH,
    CONNECTOR_AUTH,
    MockProcess,
    edge_as_peer,
    make_process,
    proxy_json,
)

LOCKOUT_ATTEMPTS = 5  # the real connector's policy, which the mock keeps by default


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.authorizations.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Listener(ThreadingHTTPServer):
    """A plain HTTP server that records the Authorization header of every request it gets."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.authorizations: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data"


@pytest.fixture(scope="module")
def listeners() -> Iterator[tuple[Listener, Listener]]:
    """(a listener configured as the cloud's peer `capture`, one the cloud does not know)."""
    made = (Listener(), Listener())
    for listener in made:
        threading.Thread(target=listener.serve_forever, daemon=True).start()
    yield made
    for listener in made:
        listener.shutdown()
        listener.server_close()


@dataclass
class StrictPair:
    edge: MockProcess
    cloud: MockProcess
    peer_auth: tuple[str, str]
    capture_auth: tuple[str, str]

    @property
    def forward_to(self) -> str:
        return self.edge.message_url


def start_pair(root, edge_env: dict[str, str], cloud_env: dict[str, str]):
    seed = root / "seed.csv"
    write_seed_csv(seed)
    edge = make_process("edge", root / "edge", {
        "IDS_SEED_FILE": str(seed), "IDS_SEED_TITLE": SEED_TITLE, **edge_env})
    edge.start()
    cloud = make_process("cloud", root / "cloud", {**edge_as_peer(edge), **cloud_env})
    try:
        cloud.start()
    except BaseException:
        edge.stop()
        raise
    return edge, cloud


@pytest.fixture(scope="module")
def strict_pair(tmp_path_factory, listeners) -> Iterator[StrictPair]:
    """Edge and cloud with the default lockout policy; the cloud knows the edge and `capture`."""
    peer_auth = ("peer-cloud", secrets.token_urlsafe(12))
    capture_auth = ("capture-user", secrets.token_urlsafe(12))
    edge, cloud = start_pair(
        tmp_path_factory.mktemp("trust"),
        {"IDS_PEER_EDGE_USER": peer_auth[0], "IDS_PEER_EDGE_PASSWORD": peer_auth[1]},
        {"IDS_PEERS": "edge,capture",
         "IDS_PEER_EDGE_USER": peer_auth[0], "IDS_PEER_EDGE_PASSWORD": peer_auth[1],
         "IDS_PEER_CAPTURE_URL": listeners[0].url,
         "IDS_PEER_CAPTURE_USER": capture_auth[0], "IDS_PEER_CAPTURE_PASSWORD": capture_auth[1]})
    try:
        yield StrictPair(edge, cloud, peer_auth, capture_auth)
    finally:
        cloud.stop()
        edge.stop()


def description_request(forward_to: str) -> dict:
    return {"multipart": "form", "Forward-To": forward_to,
            "messageType": "DescriptionRequestMessage"}


def basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def assert_pipeline_reads(pair: StrictPair) -> None:
    """The pipeline's path still works: its login on /proxy, the cloud's on the edge."""
    assert resource_id_by_title(pair.cloud, pair.forward_to, SEED_TITLE)
    for process in (pair.edge, pair.cloud):
        assert httpx.get(process.api_url + "/", auth=API_AUTH, verify=False).status_code == 200


def test_an_unknown_target_gets_400_and_no_credential(strict_pair, listeners):
    known, stranger = listeners
    answer = proxy_json(strict_pair.cloud, description_request(stranger.url))
    assert answer.status_code == 400
    assert "not a peer" in answer.text and strict_pair.forward_to in answer.text
    assert stranger.authorizations == []


def test_a_known_peer_gets_its_own_login_never_the_callers_or_the_clouds(strict_pair, listeners):
    known, _ = listeners
    proxy_json(strict_pair.cloud, description_request(known.url))
    assert known.authorizations == [basic(strict_pair.capture_auth)]
    assert basic(CONNECTOR_AUTH) not in known.authorizations
    assert basic(API_AUTH) not in known.authorizations


def test_forwards_to_the_edge_api_cannot_lock_the_edge(strict_pair):
    edge_api = strict_pair.edge.api_url + "/"
    for _ in range(LOCKOUT_ATTEMPTS + 1):
        answer = proxy_json(strict_pair.cloud, description_request(edge_api))
        assert answer.status_code == 400, answer.text
    assert_pipeline_reads(strict_pair)


def test_concurrent_forwards_to_the_cloud_itself_cannot_lock_the_cloud(strict_pair):
    cloud = strict_pair.cloud
    targets = [cloud.api_url + "/", cloud.message_url] * 4
    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(lambda t: proxy_json(cloud, description_request(t)), targets))
    assert [a.status_code for a in answers] == [400] * len(targets)
    assert_pipeline_reads(strict_pair)


@pytest.mark.parametrize("target", [
    "https://127.0.0.1:notaport/data", "https://127.0.0.1:99999/data", "https://:8889/data",
    "ftp://127.0.0.1/data", "not a url", "", 8889,
])
def test_a_malformed_forward_to_gets_400(strict_pair, target):
    answer = proxy_json(strict_pair.cloud, description_request(target))
    assert answer.status_code == 400, answer.text
    assert "Forward-To" in answer.text


@pytest.fixture
def wrong_peer_password_pair(tmp_path) -> Iterator[StrictPair]:
    """A cloud that knows the edge's peer user but not its password (the edge's lock policy: 5, 30')."""
    peer_auth = ("peer-cloud", secrets.token_urlsafe(12))
    edge, cloud = start_pair(
        tmp_path,
        # The edge's own data-app login differs from the cloud's, so no login of the cloud fits it.
        {"IDS_PEER_EDGE_USER": peer_auth[0], "IDS_PEER_EDGE_PASSWORD": peer_auth[1],
         "IDS_CONNECTOR_PASSWORD": secrets.token_urlsafe(12)},
        {"IDS_PEER_EDGE_USER": peer_auth[0], "IDS_PEER_EDGE_PASSWORD": "not-" + peer_auth[1]})
    try:
        yield StrictPair(edge, cloud, peer_auth, peer_auth)
    finally:
        cloud.stop()
        edge.stop()


def test_an_upstream_lockout_reaches_the_caller_as_a_lockout(wrong_peer_password_pair,
                                                             client_settings_for):
    pair = wrong_peer_password_pair
    refused = [proxy_json(pair.cloud, description_request(pair.forward_to))
               for _ in range(LOCKOUT_ATTEMPTS)]
    assert {a.status_code for a in refused} == {502}
    assert all("IDS_PEER_EDGE_USER" in a.text for a in refused)
    locked = proxy_json(pair.cloud, description_request(pair.forward_to))
    assert locked.status_code == 423, locked.text
    assert 1700 < int(locked.headers["retry-after"]) <= 1801
    assert "locked" in locked.text and "edge" in locked.text
    # The edge locked the cloud's peer user from this address, not the address for every user.
    assert httpx.get(pair.edge.api_url + "/", auth=API_AUTH, verify=False).status_code == 200

    from project_template.IDS_templates.ids_errors import IDSLockedOut
    from project_template.IDS_templates.rest_ids_consumer_connector import RestIDSConsumerConnector

    with pytest.raises(IDSLockedOut, match=r"locked.*Retry-After: \d+ s") as error:
        RestIDSConsumerConnector(client_settings_for(pair)).get_external_artifact_by_resource_title(
            SEED_TITLE)
    assert 1700 < error.value.retry_after <= 1801


@pytest.fixture
def client_settings_for():
    from project_template.IDS_templates.ids_settings import IdsClientSettings

    def settings(pair: StrictPair) -> IdsClientSettings:
        return IdsClientSettings(
            edge_host="127.0.0.1", edge_ids_port=str(pair.edge.message_port),
            edge_api_port=str(pair.edge.api_port),
            cloud_host="127.0.0.1", cloud_data_app_port=str(pair.cloud.message_port),
            cloud_api_port=str(pair.cloud.api_port),
            retries=1, backoff_seconds=0.05, connect_timeout=5, read_timeout=30)

    return settings

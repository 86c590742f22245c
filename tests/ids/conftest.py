"""Session fixtures: a seeded edge and a cloud mock connector, started once on free ports."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .mock_processes import REPO, MockProcess, edge_as_peer, free_port, make_process

# The template package (`project_template.IDS_templates`, `.Deployment`) and `ids_mock` itself.
for path in (REPO, REPO / "ids-mock"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SEED_TITLE = "diabetes-progression"
# Small on purpose, so that tests of bad input can exceed it cheaply (1 MiB).
MAX_PAYLOAD_MB = "1"
CLOSED_PEER_URL = "https://127.0.0.1:{port}/data"


@dataclass
class Pair:
    edge: MockProcess
    cloud: MockProcess
    seed_file: Path
    seed_title: str

    @property
    def closed_peer(self) -> str:
        return self.cloud.extra_env["IDS_PEER_CLOSED_URL"]

    @property
    def forward_to(self) -> str:
        return self.edge.message_url


def write_seed_csv(path: Path) -> None:
    """A `;`-separated CSV with quoted text, like the CLARUS datasets."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";", quotechar='"', quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(["age", "bmi", "note", "target"])
        for i in range(50):
            writer.writerow([20 + i, 18.5 + i / 10, f"patient; {i} \"quoted\"", 100 + 3 * i])


@pytest.fixture(scope="session")
def ids_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("ids")
    seed = root / "seed.csv"
    write_seed_csv(seed)
    common = {"IDS_MAX_PAYLOAD_MB": MAX_PAYLOAD_MB,
              # Many tests send wrong credentials on purpose; lockout has its own test process.
              "IDS_LOCKOUT_ATTEMPTS": "1000"}
    edge = make_process("edge", root / "edge", {
        **common, "IDS_SEED_FILE": str(seed), "IDS_SEED_TITLE": SEED_TITLE})
    # Besides the edge, the cloud knows a peer where nothing listens (transport failures).
    cloud = make_process("cloud", root / "cloud", {
        **common, **edge_as_peer(edge), "IDS_PEERS": "edge,closed",
        "IDS_PEER_CLOSED_URL": CLOSED_PEER_URL.format(port=free_port()),
        "IDS_PEER_CLOSED_USER": "closed-user", "IDS_PEER_CLOSED_PASSWORD": "closed-password"})
    edge.start()
    try:
        cloud.start()
    except BaseException:
        edge.stop()
        raise
    try:
        yield Pair(edge, cloud, seed, SEED_TITLE)
    finally:
        cloud.stop()
        edge.stop()


@pytest.fixture
def client_settings(ids_pair: Pair):
    from project_template.IDS_templates.ids_settings import IdsClientSettings

    return IdsClientSettings(
        edge_host="127.0.0.1", edge_ids_port=str(ids_pair.edge.message_port),
        edge_api_port=str(ids_pair.edge.api_port),
        cloud_host="127.0.0.1", cloud_data_app_port=str(ids_pair.cloud.message_port),
        cloud_api_port=str(ids_pair.cloud.api_port),
        retries=2, backoff_seconds=0.05, connect_timeout=5, read_timeout=60,
    )

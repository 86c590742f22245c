"""A restarted edge keeps its catalog, its agreements and its certificate; the seed is offered once."""

from __future__ import annotations

import json
import ssl

from .conftest import write_seed_csv
from .mock_processes import edge_as_peer, make_process, offered, run_offer_cli


def test_restart_keeps_catalog_agreements_and_certificate(tmp_path):
    seed = tmp_path / "seed.csv"
    write_seed_csv(seed)
    edge = make_process("edge", tmp_path / "edge", {
        "IDS_SEED_FILE": str(seed), "IDS_SEED_TITLE": "restart-seed"})
    cloud = make_process("cloud", tmp_path / "cloud", edge_as_peer(edge))
    try:
        edge.start()
        cloud.start()
        extra = tmp_path / "operator data.csv"
        extra.write_text("x;y\n1;2\n")
        offer = run_offer_cli(edge, extra, "operator-dataset")
        assert offer.returncode == 0, offer.stderr
        assert json.loads(offer.stdout)["title"] == "operator-dataset"

        from .flow import artifact_body, contract_for

        contract = contract_for(cloud, edge.message_url, "operator-dataset")
        catalog_before = offered(edge)
        cert_before = ssl.get_server_certificate(("127.0.0.1", edge.api_port))
        assert edge.stop() == 0

        edge.start()
        assert offered(edge) == catalog_before
        assert [r["ids:title"][0]["@value"] for r in catalog_before] == [
            "restart-seed", "operator-dataset"]
        assert ssl.get_server_certificate(("127.0.0.1", edge.api_port)) == cert_before
        # An agreement made before the restart still buys the artifact afterwards.
        from .mock_processes import proxy_json

        artifact = proxy_json(cloud, artifact_body(edge.message_url, contract.artifact_id,
                                                   contract.transfer_contract))
        assert artifact.status_code == 200 and artifact.content == extra.read_bytes()
    finally:
        cloud.stop()
        edge.stop()

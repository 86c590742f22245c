"""A ~300 MB artifact passes through /proxy while both servers' memory stays flat."""

from __future__ import annotations

import hashlib

import httpx
import psutil

from bench.measure import PeakSampler

from .mock_processes import API_AUTH, offered, run_offer_cli

SIZE_MB = 300
# Both servers hold about one chunk at a time; the margin covers allocator noise and TLS buffers.
MAX_RSS_GROWTH_MB = 60


def _write_big_csv(path, size_mb: int) -> str:
    line = b'12345;67890;"some text; with separators";0.123456789\n'
    block = (line * (1024 * 1024 // len(line) + 1))[: 1024 * 1024]
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for index in range(size_mb):
            # Vary each block so that a chunk served twice or out of order changes the hash.
            chunk = str(index).encode().rjust(8, b"0") + block[8:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def test_large_artifact_streams_with_flat_memory(ids_pair, client_settings, tmp_path):
    from project_template.IDS_templates.rest_ids_consumer_connector import RestIDSConsumerConnector

    big = tmp_path / "big.csv"
    expected = _write_big_csv(big, SIZE_MB)
    edge_pid, cloud_pid = ids_pair.edge.process.pid, ids_pair.cloud.process.pid
    servers = {str(pid): psutil.Process(pid) for pid in (edge_pid, cloud_pid)}
    rss = PeakSampler(lambda: {key: p.memory_info().rss for key, p in servers.items()},
                      interval=0.05)
    data = None
    try:
        with rss:
            result = run_offer_cli(ids_pair.edge, big, "big-streaming-dataset")
            assert result.returncode == 0, result.stderr
            big.unlink()  # the edge has its own copy now; keep the disk use to one copy at a time
            data = RestIDSConsumerConnector(client_settings).get_external_artifact_by_resource_title(
                "big-streaming-dataset")
            digest = hashlib.sha256()
            while chunk := data.read(1024 * 1024):
                digest.update(chunk)
        assert digest.hexdigest() == expected
        assert data.tell() == SIZE_MB * 1024 * 1024
        growth = {key: rss.growth(key) / 2**20 for key in servers}
        assert all(mb < MAX_RSS_GROWTH_MB for mb in growth.values()), growth
    finally:
        if data is not None:
            data.close()
        big.unlink(missing_ok=True)
        for resource in offered(ids_pair.edge):
            if resource["ids:title"][0]["@value"] == "big-streaming-dataset":
                httpx.delete(ids_pair.edge.api_url + "/api/offeredResource/", auth=API_AUTH,
                             verify=False, headers={"resource": resource["@id"]})
    leftovers = [p for p in (ids_pair.edge.data_dir / "artifacts").iterdir()
                 if p.name.endswith("big.csv")]
    assert leftovers == [], "the edge's copy of the big file must be gone"

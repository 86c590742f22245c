"""IDS transfer: large artifacts through the cloud's `/proxy`, raw and with the template's client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.measure import MIB, PeakSampler, figure
from bench.private_stack import PrivateStack
from project_template.IDS_templates.ids_messages import contract_request, forward_to, proxy_body
from project_template.IDS_templates.ids_settings import IdsClientSettings
from project_template.IDS_templates.rest_ids_consumer_connector import (
    RestIDSConsumerConnector,
    find_resource_id,
)
from stack.settings import REPO_ROOT

SIZES_MIB = (10, 100, 1024)
QUICK_SIZES_MIB = (10,)
# The mock refuses request bodies over IDS_MAX_PAYLOAD_MB; the benchmark's stack raises it.
PAYLOAD_LIMIT_MB = "2048"
MB = 10**6


def write_artifact(path: Path, mib: int) -> None:
    """`mib` MiB that do not compress: one random MiB, each copy stamped with its index."""
    block = os.urandom(MIB)
    with path.open("wb") as handle:
        for index in range(mib):
            handle.write(index.to_bytes(8, "big") + block[8:])


def offer(stack: PrivateStack, path: Path, title: str) -> None:
    """Offer a file on the edge with the mock's own command (`make ids-offer`)."""
    s = stack.settings
    env = {**os.environ, **{k: v for k, v in s.values.items() if k.startswith("IDS_")},
           "PYTHONPATH": str(REPO_ROOT / "ids-mock")}
    result = subprocess.run(
        [sys.executable, "-m", "ids_mock", "offer", "--file", str(path), "--title", title,
         "--api-url", s.url("IDS_EDGE_API_PORT", "https")],
        env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"offering {path} failed: {result.stderr.strip()}")


def client_settings(stack: PrivateStack) -> IdsClientSettings:
    s = stack.settings
    return IdsClientSettings(
        edge_host=s.client_host, edge_ids_port=s.get("IDS_EDGE_IDS_PORT"),
        edge_api_port=s.get("IDS_EDGE_API_PORT"), cloud_host=s.client_host,
        cloud_data_app_port=s.get("IDS_CLOUD_DATA_APP_PORT"),
        cloud_api_port=s.get("IDS_CLOUD_API_PORT"),
        connector_user=s.get("IDS_CONNECTOR_USER"), connector_password=s.get("IDS_CONNECTOR_PASSWORD"),
        api_user=s.get("IDS_API_USER"), api_password=s.get("IDS_API_PASSWORD"))


def artifact_request(client: httpx.Client, ids: IdsClientSettings, proxy: str, title: str) -> dict:
    """Steps 1 to 4 of the consumer flow through `/proxy`; returns the body of step 5."""
    target = forward_to(ids.edge_host, ids.edge_ids_port)

    def call(body: dict) -> httpx.Response:
        response = client.post(proxy, json=body)
        response.raise_for_status()
        return response

    resource_id = find_resource_id(call(proxy_body("DescriptionRequestMessage", target)).json(),
                                   title, target)
    resource = call(proxy_body("DescriptionRequestMessage", target,
                               requestedElement=resource_id)).json()
    artifact_id = resource["ids:representation"][0]["ids:instance"][0]["@id"]
    agreement = call(proxy_body("ContractRequestMessage", target, requestedElement=artifact_id,
                                payload=contract_request(resource["ids:contractOffer"][0],
                                                         ids.consumer_id))).json()
    call(proxy_body("ContractAgreementMessage", target, requestedArtifact=artifact_id,
                    payload=agreement))
    return proxy_body("ArtifactRequestMessage", target, requestedArtifact=artifact_id,
                      transferContract=agreement["@id"])


def rss_of(pids: dict[str, int]):
    processes = {name: psutil.Process(pid) for name, pid in pids.items()}

    def sample() -> dict[str, float]:
        return {name: float(p.memory_info().rss) for name, p in processes.items()}

    return sample


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) each process has used so far."""
    used = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        used[name] = times.user + times.system
    return used


def raw_transfer(stack: PrivateStack, title: str, size: int) -> dict[str, float]:
    """The artifact streamed through `/proxy` and dropped: the connectors' own speed."""
    ids = client_settings(stack)
    proxy = f"https://{ids.cloud_host}:{ids.cloud_data_app_port}/proxy"
    pids = {name: stack.service_pids()[name] for name in ("ids-edge", "ids-cloud")}
    timeout = httpx.Timeout(30.0, read=300.0)
    with httpx.Client(verify=False, auth=ids.connector_auth, timeout=timeout) as client:
        body = artifact_request(client, ids, proxy, title)
        received = 0
        # The measuring client shares the cores with the connectors: its CPU is reported too.
        cpu_pids = {**pids, "client": os.getpid()}
        cpu_before = cpu_seconds(cpu_pids)
        with PeakSampler(rss_of(pids), interval=0.05) as rss:
            started = time.monotonic()
            with client.stream("POST", proxy, json=body) as response:
                response.raise_for_status()
                # Unsized: re-chunking to a fixed size (iter_raw(MIB)) copied every byte again in
                # this process, 1.9 of its 4.6 CPU-s/GiB, on the cores the connectors need.
                for chunk in response.iter_raw():
                    received += len(chunk)
            seconds = time.monotonic() - started
        cpu = {name: used - cpu_before[name] for name, used in cpu_seconds(cpu_pids).items()}
    if received != size:
        raise RuntimeError(f"/proxy gave {received} bytes of {title}, expected {size}")
    return {"seconds": seconds, "mb_s": size / MB / seconds,
            "edge_growth_mib": rss.growth("ids-edge") / MIB,
            "cloud_growth_mib": rss.growth("ids-cloud") / MIB,
            "edge_cpu_s": cpu["ids-edge"], "cloud_cpu_s": cpu["ids-cloud"],
            "client_cpu_s": cpu["client"]}


def client_transfer(stack: PrivateStack, title: str, size: int) -> dict[str, float]:
    """The template's client: all five steps, the artifact written to a temporary file."""
    pids = {name: stack.service_pids()[name] for name in ("ids-edge", "ids-cloud")}
    pids["client"] = os.getpid()
    connector = RestIDSConsumerConnector(client_settings(stack))
    with PeakSampler(rss_of(pids), interval=0.05) as rss:
        started = time.monotonic()
        data = connector.get_external_artifact_by_resource_title(title)
        seconds = time.monotonic() - started
    with data:
        data.seek(0, os.SEEK_END)
        received = data.tell()
    if received != size:
        raise RuntimeError(f"the client got {received} bytes of {title}, expected {size}")
    return {"seconds": seconds, "mb_s": size / MB / seconds,
            "edge_growth_mib": rss.growth("ids-edge") / MIB,
            "cloud_growth_mib": rss.growth("ids-cloud") / MIB,
            "client_growth_mib": rss.growth("client") / MIB}


def measure(stack: PrivateStack, repeat: int, quick: bool = False,
            sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    sizes = sizes or (QUICK_SIZES_MIB if quick else SIZES_MIB)
    figures: dict[str, Any] = {}
    folder = stack.folder / "bench-data"
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the connectors' certificates are self-signed
        for mib in sizes:
            title, path = f"bench-artifact-{mib}MiB", folder / f"artifact-{mib}MiB.bin"
            write_artifact(path, mib)
            offer(stack, path, title)
            path.unlink()  # the edge keeps its own copy: one copy on disk at a time
            raw, client = [], []
            for _ in range(repeat):
                # Alternated, as every compared pair here.
                raw.append(raw_transfer(stack, title, mib * MIB))
                client.append(client_transfer(stack, title, mib * MIB))
            for name, runs in (("proxy", raw), ("client", client)):
                label = f"{name}.{mib}MiB"
                figures[f"{label}.throughput_mb_s"] = figure([r["mb_s"] for r in runs], "MB/s")
                figures[f"{label}.server_rss_growth_mib"] = figure(
                    [max(r["edge_growth_mib"], r["cloud_growth_mib"]) for r in runs], "MiB")
                if name == "proxy":
                    for side in ("edge", "cloud", "client"):
                        figures[f"{label}.{side}_cpu_s_per_gib"] = figure(
                            [r[f"{side}_cpu_s"] * 1024 / mib for r in runs], "CPU-s/GiB")
                if name == "client":
                    figures[f"{label}.client_rss_growth_mib"] = figure(
                        [r["client_growth_mib"] for r in runs], "MiB")
    return {
        "figures": figures,
        "details": {"payload_limit_mb": stack.settings.get("IDS_MAX_PAYLOAD_MB"), "sizes_mib": sizes},
        "notes": [
            "proxy: step 5 (ArtifactRequestMessage) streamed through the cloud's /proxy from the "
            "edge and dropped, timed alone after steps 1-4. client: the template's "
            "RestIDSConsumerConnector, all five steps, writing the artifact to a temporary file. "
            "Throughput in MB/s = 10^6 bytes per second. server_rss_growth: the larger of the "
            "edge's and the cloud's peak RSS minus their RSS before the transfer (sampled every "
            "50 ms); client_rss_growth: the same for the benchmark process running the client. "
            "cpu_s_per_gib: CPU time each connector process spent per GiB moved (where the time "
            "goes); proxy client_cpu_s_per_gib: the benchmark's own httpx client reading it "
            "(unsized iter_raw, no re-chunking).",
        ],
    }

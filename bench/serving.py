"""Serving: latency and throughput of our model server beside `mlflow models serve`, same model,
and beside itself with its inference log switched off."""

from __future__ import annotations

import csv
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from bench.measure import MIB, figure, percentile, ratio_figure, tree_pss
from bench.pipeline import ensure_champion
from bench.private_stack import PrivateStack
from project_template.config import LOCAL_DATA_FILE as EXAMPLE_CSV
from project_template.config import TARGET_COLUMN
from stack.airflow_api import AirflowAPI
from stack.native.programs import VENV_BIN, base_environment, program
from stack.private import free_port

ROWS = (1, 100)
CONCURRENCY = (1, 8)
WARMUP_REQUESTS = 20


def payload(rows: int, path: Path = EXAMPLE_CSV) -> bytes:
    """The first `rows` rows of the example's features as an MLflow `dataframe_split` body."""
    with path.open(newline="") as handle:
        records = list(csv.DictReader(handle, delimiter=";"))[:rows]
    columns = [c for c in records[0] if c != TARGET_COLUMN]
    data = [[float(r[c]) for c in columns] for r in records]
    return json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode()


def load(host: str, port: int, body: bytes, concurrency: int, max_requests: int,
         max_seconds: float) -> dict[str, float]:
    """POST `body` to /invocations from `concurrency` threads, each on one kept-alive connection,
    until `max_requests` are answered or `max_seconds` pass; every answer must be 200."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = 0
    headers = {"Content-Type": "application/json"}
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal issued
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            while True:
                with lock:
                    if issued >= max_requests or time.monotonic() > deadline:
                        return
                    issued += 1
                started = time.perf_counter()
                connection.request("POST", "/invocations", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"{response.status} {answer[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests to {host}:{port}, first: {errors[0]}")
    return {"p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "rps": len(latencies) / wall, "requests": len(latencies)}


def start_mlflow_serve(stack: PrivateStack, port: int, log: Path) -> subprocess.Popen:
    s = stack.settings
    env = stack.client_environment()
    # It execs `uvicorn` by name: the venv's, as when the venv is activated.
    env.update(MLFLOW_TRACKING_URI=s.mlflow_url,
               PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    with log.open("ab") as out:
        # A session of its own: `mlflow models serve` starts uvicorn as a child, and both are
        # stopped together through this process group, which holds only them.
        return subprocess.Popen(
            [str(VENV_BIN / "mlflow"), "models", "serve",
             "-m", f"models:/{s.get('REGISTERED_MODEL_NAME')}@champion", "--env-manager", "local",
             "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def start_model_server_without_log(stack: PrivateStack, port: int, log: Path) -> subprocess.Popen:
    """A second model server, as the native runner starts the stack's (the same description), but
    with `INFERENCE_LOG=off` and on `port`: the stack's own, with the log on, is its counterpart."""
    s = stack.settings
    off = replace(s, values={**s.values, "INFERENCE_LOG": "off", "MODEL_SERVER_PORT": str(port)})
    described = program("model-server", off, stack.backends(), stack.layout)
    with log.open("ab") as out:
        return subprocess.Popen(described.argv, env={**base_environment(), **described.env},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group of `process` (started with start_new_session), SIGKILL it after
    `timeout` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 300,
                       what: str = "mlflow models serve") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready in {timeout:.0f}s: {log.read_text()[-2000:]}")


def predictions(url: str, body: bytes) -> list:
    response = requests.post(f"{url}/invocations", data=body,
                             headers={"Content-Type": "application/json"}, timeout=60)
    response.raise_for_status()
    return response.json()["predictions"]


EXTRA_MODELS = 3


def memory_per_served_model(stack: PrivateStack, name: str, version: str,
                            extra: int = EXTRA_MODELS) -> list[float]:
    """MiB the model server adds per served model: copies of the champion, registered under
    names of their own (as other projects' models), loaded one after another."""
    import mlflow
    from mlflow import MlflowClient

    s = stack.settings
    mlflow.set_tracking_uri(s.mlflow_url)
    mlflow.set_registry_uri(s.mlflow_url)
    client = MlflowClient()
    pid = stack.service_pids()["model-server"]
    growth, before = [], tree_pss(pid)
    for index in range(extra):
        copy = f"bench-served-{index}"
        copied = mlflow.register_model(f"models:/{name}/{version}", copy)
        client.set_registered_model_alias(copy, "champion", copied.version)
        requests.post(f"{s.model_server_url}/models/{copy}/reload", timeout=300,
                      auth=s.model_server_auth).raise_for_status()
        after = tree_pss(pid)
        growth.append((after - before) / MIB)
        before = after
    return growth


# Who is measured: the stack's model server (inference log on, its default), the same server
# with the log off, and `mlflow models serve`.
SERVERS = ("ours", "nolog", "mlflow")


def measure(stack: PrivateStack, repeat: int, quick: bool = False) -> dict[str, Any]:
    ensure_champion(stack, AirflowAPI.from_settings(stack.settings))
    s = stack.settings
    ours_url = s.model_server_url
    max_requests, max_seconds = (300, 2.0) if quick else (2000, 5.0)
    ports = {"ours": s.int("MODEL_SERVER_PORT"), "nolog": free_port(), "mlflow": free_port()}
    logs = {"nolog": stack.folder / "model-server-nolog.log",
            "mlflow": stack.folder / "mlflow-models-serve.log"}
    started = time.monotonic()
    process = start_mlflow_serve(stack, ports["mlflow"], logs["mlflow"])
    nolog = start_model_server_without_log(stack, ports["nolog"], logs["nolog"])
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        wait_until_serving(urls["mlflow"], process, logs["mlflow"])
        theirs_start_s = time.monotonic() - started
        wait_until_serving(urls["nolog"], nolog, logs["nolog"], what="the model server without log")
        requests.post(f"{urls['nolog']}/reload", timeout=300).raise_for_status()
        served = requests.get(f"{ours_url}/champion", timeout=10).json()
        log_before = served["inference_log"]
        bodies = {rows: payload(rows) for rows in ROWS}
        # The same model on every side, or the comparison means nothing.
        expected = predictions(ours_url, bodies[100])
        if any(predictions(urls[name], bodies[100]) != expected for name in ("nolog", "mlflow")):
            raise RuntimeError("the servers predict differently: not the same model")
        for body in bodies.values():
            for name in SERVERS:
                load("127.0.0.1", ports[name], body, 1, WARMUP_REQUESTS, 30)

        results: dict[tuple, list[dict]] = {}
        for rows in ROWS:
            for concurrency in CONCURRENCY:
                for index in range(repeat):
                    # Rotate who goes first, so none always gets the quieter moment.
                    shift = index % len(SERVERS)
                    for name in SERVERS[shift:] + SERVERS[:shift]:
                        results.setdefault((name, rows, concurrency), []).append(
                            load("127.0.0.1", ports[name], bodies[rows], concurrency,
                                 max_requests, max_seconds))
        pss = {"model_server": tree_pss(stack.service_pids()["model-server"]) / MIB,
               "mlflow_serve": tree_pss(process.pid) / MIB}
        log_after = requests.get(f"{ours_url}/health", timeout=10).json()["inference_log"]
    finally:
        stop_group(process)
        stop_group(nolog)
    per_model = memory_per_served_model(stack, served["model_name"], served["version"])

    figures: dict[str, Any] = {}
    for rows in ROWS:
        for concurrency in CONCURRENCY:
            cell = f"rows{rows}.c{concurrency}"
            runs = {name: results[(name, rows, concurrency)] for name in SERVERS}
            for name in SERVERS:
                for key, unit in (("p50_ms", "ms"), ("p99_ms", "ms"), ("rps", "req/s")):
                    figures[f"{name}.{cell}.{key}"] = figure([r[key] for r in runs[name]], unit)
            for other, label in (("mlflow", "ours_over_mlflow"), ("nolog", "log_over_nolog")):
                figures[f"ratio.{cell}.rps_{label}"] = ratio_figure(
                    [r["rps"] for r in runs["ours"]], [r["rps"] for r in runs[other]])
                figures[f"ratio.{cell}.p99_{label}"] = ratio_figure(
                    [r["p99_ms"] for r in runs["ours"]], [r["p99_ms"] for r in runs[other]])
    figures["pss.model_server_mib"] = figure([pss["model_server"]], "MiB")
    figures["pss.mlflow_serve_mib"] = figure([pss["mlflow_serve"]], "MiB")
    figures["pss.model_server_per_served_model_mib"] = figure(per_model, "MiB")
    logged = {key: log_after[key] - log_before[key]
              for key in ("written_rows", "written_files", "dropped_rows")}
    return {
        "figures": figures,
        "details": {"model": served.get("model_name"), "version": served.get("version"),
                    "mlflow_serve_ready_s": theirs_start_s, "max_requests": max_requests,
                    "max_seconds": max_seconds, "inference_log": logged},
        "notes": [
            "Load: Python threads on kept-alive HTTP connections over loopback, each cell up to "
            f"{max_requests} requests or {max_seconds:.0f} s, after {WARMUP_REQUESTS} warm-up "
            "requests; the load generator shares the machine's cores with the servers, alike for "
            "all. mlflow: `mlflow models serve -m models:/<name>@champion --env-manager local "
            "-w 1` (one uvicorn worker, as our server). Ratios above 1 mean ours is faster "
            "(rps) or slower (p99).",
            "ours is the stack's model server, inference log on (its default); nolog is a second "
            "model server started from the same description with INFERENCE_LOG=off, serving the "
            "same champion. ratio.*_log_over_nolog is the log's cost: rps below 1 and p99 above "
            "1 mean the log slows serving. The log's writer thread shares the cores with the "
            "server; details.inference_log counts the rows it wrote and dropped meanwhile.",
            f"Per served model: the model server's PSS grows by this much for each further "
            f"registered model it serves ({EXTRA_MODELS} copies of the champion registered under "
            f"names of their own, each loaded through /models/<name>/reload).",
        ],
    }

"""Starts and stops mock connector processes on free ports for the tests, and talks to them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from stack.private import free_port

REPO = Path(__file__).resolve().parents[2]
IDS_MOCK_DIR = REPO / "ids-mock"
# The TRUE Connector's published defaults: the mock's defaults, which the drop-in test relies on.
API_AUTH = ("admin", "password")
CONNECTOR_AUTH = ("connector", "password")
# The login of the edge's IDS endpoint (/data) when IDS_PEER_EDGE_* are unset: what the cloud uses.
PEER_AUTH = ("peer-connector", "peer-password")


def base_env() -> dict[str, str]:
    """The test's environment without any IDS_* setting of the developer's shell or `.env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(IDS_MOCK_DIR), env.get("PYTHONPATH")]))
    env["IDS_LOG_LEVEL"] = "warning"
    return env


@dataclass
class MockProcess:
    """One `python -m ids_mock serve --role ...` process and the ports it serves."""

    role: str
    message_port: int
    api_port: int
    data_dir: Path
    cert_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def message_url(self) -> str:
        path = "data" if self.role == "edge" else "proxy"
        return f"https://127.0.0.1:{self.message_port}/{path}"

    def env(self) -> dict[str, str]:
        env = base_env()
        ports = (("IDS_EDGE_IDS_PORT", "IDS_EDGE_API_PORT") if self.role == "edge"
                 else ("IDS_CLOUD_DATA_APP_PORT", "IDS_CLOUD_API_PORT"))
        env.update({ports[0]: str(self.message_port), ports[1]: str(self.api_port),
                    "IDS_DATA_DIR": str(self.data_dir), "IDS_CERT_DIR": str(self.cert_dir)})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> MockProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ids_mock", "serve", "--role", self.role],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir.parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ids-mock {self.role} exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.api_url + "/", auth=API_AUTH, verify=False,
                             timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ids-mock {self.role} not ready in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM this process (only this one) and wait; returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def edge_as_peer(edge: MockProcess) -> dict[str, str]:
    """The cloud settings that make `edge` its peer `edge`, at the address the tests use."""
    return {"IDS_EDGE_HOST": "127.0.0.1", "IDS_EDGE_IDS_PORT": str(edge.message_port)}


def make_process(role: str, root: Path, extra_env: dict[str, str] | None = None) -> MockProcess:
    """A mock connector on free ports: a process, or under `make test-compose` the image's container."""
    from tests.ids.mock_containers import MockContainer, images_run_here

    root.mkdir(parents=True, exist_ok=True)
    return (MockContainer if images_run_here() else MockProcess)(
        role=role, message_port=free_port(), api_port=free_port(),
        data_dir=root / "data", cert_dir=root / "certs", log_path=root / f"{role}.log",
        extra_env=extra_env or {},
    )


def proxy_json(cloud: MockProcess, body: dict | str | bytes, auth=CONNECTOR_AUTH,
               timeout: float = 30) -> httpx.Response:
    """POST a /proxy request; a dict is sent as JSON, str/bytes as they are."""
    content = body if isinstance(body, str | bytes) else None
    return httpx.post(cloud.message_url, json=None if content is not None else body,
                      content=content, headers={"content-type": "application/json"},
                      auth=auth, verify=False, timeout=timeout)


def description(process: MockProcess) -> dict:
    response = httpx.get(process.api_url + "/", auth=API_AUTH, verify=False, timeout=10)
    response.raise_for_status()
    return response.json()


def offered(process: MockProcess) -> list[dict]:
    return description(process)["ids:resourceCatalog"][0]["ids:offeredResource"]


def run_offer_cli(edge: MockProcess, path: Path, title: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ids_mock", "offer", "--file", str(path), "--title", title,
         "--api-url", edge.api_url],
        env=base_env(), capture_output=True, text=True, timeout=120,
    )

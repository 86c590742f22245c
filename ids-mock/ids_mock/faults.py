"""Fault injection for tests (off by default): latency, a share of 5xx answers, forced statuses."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.responses import PlainTextResponse, Response


def _parse_status_map(text: str) -> dict[str, int]:
    """`ArtifactRequestMessage=503,ContractRequestMessage=500` -> {name: status}."""
    result: dict[str, int] = {}
    for item in text.split(","):
        name, sep, status = item.partition("=")
        if sep and name.strip():
            result[name.strip()] = int(status)
    return result


@dataclass
class Faults:
    """The faults one process injects on its message endpoint (`/proxy` or `/data`)."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    fail_next: int = 0
    status_by_message_type: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Faults:
        return cls(
            latency_ms=int(os.environ.get("IDS_FAULT_LATENCY_MS") or 0),
            error_rate=float(os.environ.get("IDS_FAULT_ERROR_RATE") or 0.0),
            error_status=int(os.environ.get("IDS_FAULT_ERROR_STATUS") or 503),
            status_by_message_type=_parse_status_map(os.environ.get("IDS_FAULT_STATUS") or ""),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """Faults from the admin endpoint's JSON; a missing field means off."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        statuses = data.get("status_by_message_type") or {}
        if not isinstance(statuses, dict):
            raise ValueError("status_by_message_type must map message types to statuses")
        faults = cls(
            latency_ms=int(data.get("latency_ms", 0)),
            error_rate=float(data.get("error_rate", 0.0)),
            error_status=int(data.get("error_status", 503)),
            fail_next=int(data.get("fail_next", 0)),
            status_by_message_type={str(k): int(v) for k, v in statuses.items()},
        )
        if not 0.0 <= faults.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if faults.latency_ms < 0 or faults.fail_next < 0:
            raise ValueError("latency_ms and fail_next must not be negative")
        for status in (faults.error_status, *faults.status_by_message_type.values()):
            if not 100 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP status")
        return faults

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    async def before_message(self, message_type: str) -> Response | None:
        """Delay, then an injected answer for this message, or None to process it normally."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        forced = self.status_by_message_type.get(message_type)
        if forced is not None:
            return PlainTextResponse(
                f"Fault injected: status {forced} for {message_type}", status_code=forced
            )
        if self.fail_next > 0:
            self.fail_next -= 1
            return _injected_error(self.error_status)
        # random is fine here: this only decides which answers fail in a test.
        if self.error_rate and random.random() < self.error_rate:  # noqa: S311
            return _injected_error(self.error_status)
        return None


def _injected_error(status: int) -> Response:
    return PlainTextResponse(f"Fault injected: status {status}", status_code=status)

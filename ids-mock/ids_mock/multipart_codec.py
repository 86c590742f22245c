"""IDS multipart messages (parts `header`, `payload`): building them, reading them as a stream."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

# The only content types the real connector speaks between connectors over HTTPS.
MULTIPART_SUBTYPES = {"form": "multipart/form-data", "mixed": "multipart/mixed"}
MAX_PART_HEADER_BYTES = 16 * 1024
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class MultipartError(ValueError):
    """The body is not a well-formed multipart message."""


def new_boundary() -> str:
    return f"ids-mock-{uuid.uuid4().hex}"


def boundary_of(content_type: str | None) -> str | None:
    """The boundary of a `multipart/*` content type, None for anything else."""
    if not content_type or not content_type.lower().startswith("multipart/"):
        return None
    match = _BOUNDARY.search(content_type)
    return match.group(1) if match else None


def part_head(boundary: str, name: str, content_type: str, length: int | None = None) -> bytes:
    lines = [
        f"--{boundary}",
        f'Content-Disposition: form-data; name="{name}"',
        f"Content-Type: {content_type}",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def encode_message(
    boundary: str, header: dict[str, Any], payload: bytes | None,
    payload_type: str = "text/plain; charset=utf-8",
) -> bytes:
    """A whole multipart message in memory: for requests and small answers only."""
    header_bytes = json.dumps(header).encode("utf-8")
    body = part_head(boundary, "header", "application/ld+json", len(header_bytes))
    body += header_bytes + b"\r\n"
    if payload:
        body += part_head(boundary, "payload", payload_type, len(payload)) + payload + b"\r\n"
    return body + closing(boundary)


def stream_message(
    boundary: str, header: dict[str, Any], chunks: Iterator[bytes], payload_size: int,
    payload_type: str,
) -> tuple[int, Iterator[bytes]]:
    """(content length, body chunks) of a message whose payload comes from `chunks`."""
    header_bytes = json.dumps(header).encode("utf-8")
    prefix = part_head(boundary, "header", "application/ld+json", len(header_bytes))
    prefix += header_bytes + b"\r\n"
    prefix += part_head(boundary, "payload", payload_type, payload_size)
    suffix = b"\r\n" + closing(boundary)

    def body() -> Iterator[bytes]:
        yield prefix
        yield from chunks
        yield suffix

    return len(prefix) + payload_size + len(suffix), body()


@dataclass
class PartStart:
    name: str
    headers: dict[str, str]


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


@dataclass
class MultipartDecoder:
    """Incremental multipart parser: feed it bytes, get events; memory stays at one chunk.

    Part data is released as soon as it cannot be the start of the next delimiter, so a payload of
    any size passes through with a buffer of about one chunk.
    """

    boundary: str
    _buffer: bytearray = field(default_factory=bytearray)
    _state: str = "preamble"

    def __post_init__(self) -> None:
        self._delimiter = b"--" + self.boundary.encode("latin-1")
        self._body_delimiter = b"\r\n" + self._delimiter

    @property
    def finished(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        if self._state != "done":
            raise MultipartError("multipart body ended before its closing delimiter")

    def _step(self, events: list[Event]) -> bool:
        buf = self._buffer
        if self._state == "preamble":
            index = buf.find(self._delimiter)
            if index < 0:
                # Keep only what could still be the beginning of the delimiter.
                del buf[: max(0, len(buf) - len(self._delimiter))]
                return False
            del buf[:index + len(self._delimiter)]
            self._state = "after_delimiter"
            return True
        if self._state == "after_delimiter":
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self._state = "done"
                buf.clear()
                return False
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                if len(buf) > MAX_PART_HEADER_BYTES:
                    raise MultipartError("garbage after a multipart delimiter")
                return False
            del buf[:line_end + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            if buf[:2] == b"\r\n":
                raw, consumed = b"", 2
            else:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_PART_HEADER_BYTES:
                        raise MultipartError("part headers are too large")
                    return False
                raw, consumed = bytes(buf[:end]), end + 4
            del buf[:consumed]
            headers = _parse_headers(raw)
            match = _NAME.search(headers.get("content-disposition", ""))
            events.append(PartStart(match.group(1) if match else "", headers))
            self._state = "body"
            return True
        if self._state == "body":
            index = buf.find(self._body_delimiter)
            if index < 0:
                safe = len(buf) - len(self._body_delimiter)
                if safe > 0:
                    events.append(PartData(_take(buf, safe)))
                return False
            if index > 0:
                events.append(PartData(_take(buf, index)))
            del buf[:len(self._body_delimiter)]
            events.append(PartEnd())
            self._state = "after_delimiter"
            return True
        buf.clear()
        return False


def _take(buf: bytearray, size: int) -> bytes:
    """The first `size` bytes of `buf`, removed from it: copied once (`bytes(buf[:n])` copies twice)."""
    with memoryview(buf) as view, view[:size] as part:
        data = bytes(part)
    del buf[:size]  # from the front of a bytearray: no move of the rest
    return data


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


@dataclass
class Part:
    name: str
    headers: dict[str, str]
    body: bytes


async def read_small_message(
    chunks: AsyncIterator[bytes], boundary: str, limit: int
) -> dict[str, Part]:
    """All parts of a message expected to be small (a request), by name; over `limit`: error."""
    decoder = MultipartDecoder(boundary)
    parts: dict[str, Part] = {}
    current: Part | None = None
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(total, limit)
        for event in decoder.feed(chunk):
            if isinstance(event, PartStart):
                current = Part(event.name, event.headers, b"")
            elif isinstance(event, PartData) and current is not None:
                current.body += event.data
            elif isinstance(event, PartEnd) and current is not None:
                parts.setdefault(current.name, current)
                current = None
    decoder.close()
    return parts


class PayloadTooLarge(Exception):
    """A request body over the configured payload limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(size, limit)
        self.size = size
        self.limit = limit

    def __str__(self) -> str:
        return (
            f"Payload too large: the request body exceeds the limit of "
            f"{self.limit / (1024 * 1024):g} MB ({self.limit} bytes), set by IDS_MAX_PAYLOAD_MB."
        )

"""The cloud data app `/proxy`: wraps JSON requests as IDS messages and sends them to a known peer."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from ids_mock import jsonld
from ids_mock.faults import Faults
from ids_mock.forward import ForwardError, PeerAnswer, PeerClient
from ids_mock.json_body import BadJsonBody, json_object
from ids_mock.multipart_codec import (
    MULTIPART_SUBTYPES,
    Event,
    MultipartDecoder,
    MultipartError,
    PartData,
    PartEnd,
    PartStart,
    PayloadTooLarge,
    boundary_of,
    encode_message,
    new_boundary,
)
from ids_mock.settings import BadTarget, Peer, Settings, endpoint_key

log = logging.getLogger(__name__)

# Fields each message type needs, besides `multipart`, `messageType` and `Forward-To`.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "DescriptionRequestMessage": (),
    "ContractRequestMessage": ("requestedElement", "payload"),
    "ContractAgreementMessage": ("payload",),
    "ArtifactRequestMessage": ("requestedArtifact", "transferContract"),
}
# How the data app maps a provider's rejection reason to its own answer's status.
STATUS_BY_REASON = {
    "NOT_FOUND": 404,
    "NOT_AUTHORIZED": 401,
    "NOT_AUTHENTICATED": 401,
    "BAD_PARAMETERS": 500,
    "MALFORMED_MESSAGE": 400,
    "MESSAGE_TYPE_NOT_SUPPORTED": 400,
    "TEMPORARILY_NOT_AVAILABLE": 503,
}
NOT_PROCESSED = "Message could not be processed"
MAX_HEADER_PART = 1024 * 1024
# A provider may send the payload before the header; this much is held while waiting for it.
MAX_EARLY_PAYLOAD = 8 * 1024 * 1024


class BadProxyRequest(Exception):
    """A /proxy request refused with 400 before anything is forwarded."""


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise PayloadTooLarge(declared, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(len(body), limit)
    return bytes(body)


def peer_of(target: object, peers: tuple[Peer, ...]) -> Peer:
    """The known peer that `Forward-To` names, or BadProxyRequest saying why there is none.

    Only configured peers are ever contacted, each with its own login: a caller cannot make this
    connector send a login to a listener of its own, or spend failed logins at another endpoint.
    """
    try:
        key = endpoint_key(target)
    except BadTarget as exc:
        raise BadProxyRequest(
            f"Malformed Forward-To {target!r}: {exc}. Expected a peer connector's IDS endpoint, "
            "e.g. https://host:8889/data.") from exc
    for peer in peers:
        if peer.key == key:
            return peer
    known = ", ".join(f"{peer.name} ({peer.url})" for peer in peers) or "none"
    raise BadProxyRequest(
        f"Forward-To {target} is not a peer of this connector, which forwards only to: {known}. "
        "To add a peer, name it in the cloud's IDS_PEERS and set IDS_PEER_<NAME>_URL, _USER and "
        "_PASSWORD.")


def parse_proxy_request(raw: bytes, peers: tuple[Peer, ...]) -> tuple[dict[str, Any], Peer]:
    """The validated JSON body of a /proxy request and its peer, or BadProxyRequest with the reason."""
    try:
        data = json_object(raw)
    except BadJsonBody as exc:
        raise BadProxyRequest(str(exc)) from exc
    for field in ("multipart", "messageType"):
        if not data.get(field):
            raise BadProxyRequest(f"Missing {field}")
    if data["multipart"] not in MULTIPART_SUBTYPES:
        raise BadProxyRequest(
            f"Unsupported multipart {data['multipart']!r}: use one of {sorted(MULTIPART_SUBTYPES)}"
        )
    message_type = jsonld.strip_prefix(str(data["messageType"]))
    if message_type not in REQUIRED_FIELDS:
        raise BadProxyRequest(
            f"Unsupported messageType {data['messageType']!r}: use one of {sorted(REQUIRED_FIELDS)}"
        )
    data["messageType"] = message_type
    if data.get("Forward-To") in (None, ""):
        raise BadProxyRequest("Missing Forward-To (expected a peer's https://host:port/data)")
    peer = peer_of(data["Forward-To"], peers)
    for field in REQUIRED_FIELDS[message_type]:
        if data.get(field) in (None, ""):
            raise BadProxyRequest(f"Missing {field} for {message_type}")
    return data, peer


def build_message(data: dict[str, Any], issuer: str) -> tuple[dict[str, Any], bytes]:
    """The IDS header and payload bytes that a /proxy request stands for."""
    extra: dict[str, Any] = {}
    for field, key in (
        ("requestedElement", "ids:requestedElement"),
        ("requestedArtifact", "ids:requestedArtifact"),
        ("transferContract", "ids:transferContract"),
    ):
        value = jsonld.ref_value(data.get(field))
        if value:
            extra[key] = jsonld.ref(value)
    header = jsonld.message(data["messageType"], issuer, extra=extra)
    payload = data.get("payload")
    if payload is None:
        body = b""
    elif isinstance(payload, str):
        body = payload.encode("utf-8")
    else:
        body = json.dumps(payload).encode("utf-8")
    return header, body


class AnswerReader:
    """Reads a provider's multipart answer as it streams in: header first, then the payload."""

    def __init__(self, upstream: PeerAnswer, boundary: str) -> None:
        self._upstream = upstream
        self._chunks = upstream.chunks()
        self._decoder = MultipartDecoder(boundary)
        self._events: deque[Event] = deque()
        self._part: str | None = None
        self._header_bytes = bytearray()
        self._early: list[bytes] = []
        self._early_size = 0
        self._ended = False
        self.header: dict[str, Any] | None = None
        self.payload_type = "application/octet-stream"

    async def _next_event(self) -> Event | None:
        while not self._events:
            if self._ended:
                return None
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._decoder.close()
                self._ended = True
                continue
            self._events.extend(self._decoder.feed(chunk))
        return self._events.popleft()

    def _handle(self, event: Event) -> bytes | None:
        """Payload bytes carried by the event, if any; header bytes are collected."""
        if isinstance(event, PartStart):
            self._part = event.name
            if event.name == "payload":
                self.payload_type = event.headers.get("content-type", self.payload_type)
        elif isinstance(event, PartData):
            if self._part == "payload":
                return event.data
            if self._part == "header":
                self._header_bytes += event.data
                if len(self._header_bytes) > MAX_HEADER_PART:
                    raise MultipartError("the header part is too large")
        elif isinstance(event, PartEnd) and self._part == "header":
            try:
                header = json.loads(self._header_bytes.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise MultipartError("the header part is not JSON") from exc
            if not isinstance(header, dict):
                raise MultipartError("the header part is not a JSON object")
            self.header = header
        return None

    async def read_header(self) -> None:
        """Read until the header is known and the payload has started or is known to be empty."""
        while self.header is None or not self._early:
            event = await self._next_event()
            if event is None:
                break
            data = self._handle(event)
            if data:
                self._early.append(data)
                self._early_size += len(data)
                if self.header is None and self._early_size > MAX_EARLY_PAYLOAD:
                    raise MultipartError("the answer's payload came without a header")
        if self.header is None:
            raise MultipartError("the answer has no header part")

    @property
    def payload_empty(self) -> bool:
        return not self._early

    async def payload(self) -> AsyncIterator[bytes]:
        """The payload to its end; the connection to the provider is closed however it ends."""
        try:
            for data in self._early:
                yield data
            self._early = []
            while (event := await self._next_event()) is not None:
                data = self._handle(event)
                if data:
                    yield data
        finally:
            # Also when the client went away: the provider's connection is not left to the GC.
            await self._upstream.aclose()


def _not_processed(reason: str) -> Response:
    log.warning("%s: %s", NOT_PROCESSED, reason)
    return PlainTextResponse(NOT_PROCESSED, status_code=500)


def _refused(upstream: PeerAnswer, peer: Peer) -> Response:
    """The answer to a peer's 401/403: a lockout stays a lockout (423 with its Retry-After)."""
    settings = f"IDS_PEER_{peer.name.upper()}_USER and IDS_PEER_{peer.name.upper()}_PASSWORD"
    retry_after = upstream.headers.get("retry-after")
    if retry_after:
        return PlainTextResponse(
            f"The peer connector {peer.name} ({peer.url}) has locked out this connector's login "
            f"after too many failed logins; Retry-After: {retry_after} s. Check the cloud's "
            f"{settings}.",
            status_code=423, headers={"Retry-After": retry_after},
        )
    return PlainTextResponse(
        f"The peer connector {peer.name} ({peer.url}) refused this connector's login for it: "
        f"set the cloud's {settings} to the login that peer accepts.",
        status_code=502,
    )


async def relay_answer(upstream: PeerAnswer, peer: Peer) -> Response:
    """The data app's answer to its client: only the payload of the provider's answer."""
    forward_to = peer.url
    boundary = boundary_of(upstream.headers.get("content-type"))
    if boundary is None:
        text = (await upstream.read(4096)).decode("utf-8", "replace")
        await upstream.aclose()
        if upstream.status_code in (401, 403):
            return _refused(upstream, peer)
        if upstream.status_code >= 400:
            return PlainTextResponse(text or NOT_PROCESSED, status_code=upstream.status_code)
        return _not_processed(f"{forward_to} answered without a multipart message")
    reader = AnswerReader(upstream, boundary)
    try:
        await reader.read_header()
    except (MultipartError, ForwardError) as exc:
        await upstream.aclose()
        return _not_processed(f"bad answer from {forward_to}: {exc}")
    assert reader.header is not None
    type_name = jsonld.strip_prefix(str(reader.header.get("@type", "")))
    if type_name == "RejectionMessage":
        await upstream.aclose()
        reason_id = jsonld.ref_value(reader.header.get("ids:rejectionReason")) or ""
        reason = jsonld.strip_prefix(reason_id)
        return PlainTextResponse(
            f"Rejection occured with reason: {reason}",
            status_code=STATUS_BY_REASON.get(reason, 500),
        )
    if reader.payload_empty:
        await upstream.aclose()
        return PlainTextResponse(type_name)
    return StreamingResponse(reader.payload(), media_type=reader.payload_type)


def create_cloud_app(settings: Settings, faults: Faults) -> FastAPI:
    """The app on IDS_CLOUD_DATA_APP_PORT; Basic connector authentication is added by the server."""

    # No pooled connections to providers: an idle TLS connection would hold up a provider's
    # shutdown, and one that outlived a provider restart would fail the next message.
    client = PeerClient(settings.forward_verify_tls, settings.forward_connect_timeout,
                        settings.forward_read_timeout)

    app = FastAPI(title="TRUE Connector mock: cloud data app",
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/proxy")
    async def proxy(request: Request) -> Response:
        try:
            data, peer = parse_proxy_request(
                await _read_limited(request, settings.max_payload_bytes), settings.peers)
        except PayloadTooLarge as exc:
            return PlainTextResponse(str(exc), status_code=413)
        except BadProxyRequest as exc:
            return PlainTextResponse(str(exc), status_code=400)
        injected = await faults.before_message(data["messageType"])
        if injected is not None:
            return injected
        header, payload = build_message(data, settings.connector_id)
        boundary = new_boundary()
        forward_to = peer.url
        content_type = f"{MULTIPART_SUBTYPES[data['multipart']]}; boundary={boundary}"
        try:
            # The peer's own login, never the caller's or this connector's; redirects are not
            # followed, so the login goes to the configured URL only.
            upstream = await client.post(
                forward_to, encode_message(boundary, header, payload, "application/json"),
                content_type, (peer.user, peer.password))
        except ForwardError as exc:
            return _not_processed(f"{forward_to} unreachable: {exc}")
        return await relay_answer(upstream, peer)

    return app

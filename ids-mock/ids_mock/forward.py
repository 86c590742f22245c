"""The cloud's HTTP/1.1 client for its peers: one request per connection, the answer read in large blocks.

httpx reads a TLS connection one record (16 KiB) at a time and passes each through several layers,
which cost the cloud most of its CPU on a large artifact. Here the event loop's TLS transport hands
whole socket reads to httptools, which parses them in C, so a GiB takes a few thousand rounds of
Python instead of 65,536.
"""

from __future__ import annotations

import asyncio
import base64
import zlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
import httpx

# Reading pauses while this much of an answer's body waits for the consumer: all the cloud holds.
READ_SIZE = 1024 * 1024
# Status line and headers of an answer: more is not an answer.
MAX_HEAD = 64 * 1024
# Encodings a peer might use although asked for identity; decoded as httpx did.
ZLIB_ENCODINGS = {"gzip", "x-gzip", "deflate"}


class ForwardError(Exception):
    """The peer was not reached, timed out, or broke the exchange."""


class _AnswerProtocol(asyncio.Protocol):
    """Feeds what the transport reads straight to the parser; its callbacks collect the answer."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.head_size = 0
        self.body: list[bytes] = []
        self.buffered = 0
        self.done = False
        self.closed = False
        self.error: ForwardError | None = None
        self._waiter: asyncio.Future[None] | None = None

    # --- transport callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.head_done:
            self.head_size += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ForwardError(f"the peer's answer is not HTTP/1.1: {exc}"))
            return
        if not self.head_done and self.head_size > MAX_HEAD:
            self._fail(ForwardError("the peer's answer has no end of its headers"))
            return
        if self.buffered >= READ_SIZE and self.transport is not None:
            self.transport.pause_reading()  # bounded memory: the consumer takes it first
        self._wake()

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.done:
            self._fail(ForwardError(f"{type(exc).__name__}: {exc}"))
        self._ended()

    # --- parser callbacks ------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:
            self.headers.clear()  # an interim answer; the real one follows
            return
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.done = True

    # --- for the consumer ------------------------------------------------------------------------
    def take(self) -> bytes:
        """The body parsed so far, as one block; reading resumes."""
        block = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
        return block

    async def more(self, timeout: float) -> None:
        """Wait until the transport brings something (data, the end, an error)."""
        if self.error is not None:
            raise self.error
        if self.closed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError as exc:
            raise ForwardError(f"no data from the peer for {timeout:g} s") from exc
        finally:
            self._waiter = None
        if self.error is not None:
            raise self.error

    def _ended(self) -> None:
        if not self.closed:
            self.closed = True
            # No length and no chunks: the body ends with the connection (llhttp waits for it).
            if self.head_done and not self._delimited():
                self.done = True
            elif not self.done and self.error is None:
                self.error = ForwardError("the peer closed the connection before the end of its answer")
        self._wake()

    def _delimited(self) -> bool:
        return ("content-length" in self.headers or "chunked" in self.headers.get("transfer-encoding", "")
                or self.parser.get_status_code() in (204, 304))

    def _fail(self, error: ForwardError) -> None:
        self.error = self.error or error
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class PeerAnswer:
    """A peer's answer: status and headers known, the body streamed by `chunks()`."""

    def __init__(self, protocol: _AnswerProtocol, read_timeout: float) -> None:
        self._protocol = protocol
        self._read_timeout = read_timeout
        self._decoder: Any = None
        self.status_code = 0
        self.headers: dict[str, str] = {}

    async def read_head(self) -> None:
        protocol = self._protocol
        while not protocol.head_done:
            if protocol.closed and protocol.error is None:
                raise ForwardError("the peer closed the connection before the end of its answer")
            await protocol.more(self._read_timeout)
        self.status_code = protocol.parser.get_status_code()
        self.headers = protocol.headers
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding in ZLIB_ENCODINGS:
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        elif encoding != "identity":
            raise ForwardError(f"the peer's answer has an unknown content-encoding {encoding!r}")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in blocks of up to about READ_SIZE."""
        protocol = self._protocol
        while True:
            if protocol.body:
                block = protocol.take()
                if self._decoder is not None:
                    block = self._decoder.decompress(block)
                if block:
                    yield block
                continue
            if protocol.done:
                if self._decoder is not None and (rest := self._decoder.flush()):
                    yield rest
                return
            await protocol.more(self._read_timeout)

    async def read(self, limit: int) -> bytes:
        """At most `limit` bytes of the body (an error text, say); the rest is left unread."""
        kept = bytearray()
        async for block in self.chunks():
            kept += block[: limit - len(kept)]
            if len(kept) >= limit:
                break
        return bytes(kept)

    async def aclose(self) -> None:
        transport = self._protocol.transport
        if transport is None or self._protocol.closed:
            return
        if self._protocol.done:
            transport.close()
        else:
            transport.abort()  # an answer not read to its end is not worth reading


class PeerClient:
    """Posts one message to a peer per connection (no pool: a restarted peer is met afresh)."""

    def __init__(self, verify_tls: bool, connect_timeout: float, read_timeout: float) -> None:
        # httpx's context, as the cloud used before: the same verification and CA bundle.
        self._ssl = httpx.create_ssl_context(verify=verify_tls)
        self._ssl.set_alpn_protocols(["http/1.1"])
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    async def post(self, url: str, body: bytes, content_type: str,
                   auth: tuple[str, str]) -> PeerAnswer:
        """Send `body` to `url` with Basic `auth`; the answer's head is read, its body waits."""
        parts = urlsplit(url)
        https = parts.scheme.lower() == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        protocol = _AnswerProtocol()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await asyncio.get_running_loop().create_connection(
                    lambda: protocol, host, port, ssl=self._ssl if https else None,
                    server_hostname=host if https else None)
        except (OSError, TimeoutError) as exc:
            raise ForwardError(f"{type(exc).__name__}: {exc}") from exc
        login = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if parts.query:  # as httpx sent it: the peer's URL may carry one
            target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
        # The URL's own user:password@ is never sent as the host (the peer's login is `auth`).
        netloc = parts.netloc.rpartition("@")[2]
        head = (f"POST {target} HTTP/1.1\r\nHost: {netloc}\r\nAccept: */*\r\n"
                f"Accept-Encoding: identity\r\nConnection: close\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                f"Authorization: Basic {login}\r\n\r\n")
        answer = PeerAnswer(protocol, self._read_timeout)
        try:
            # Written without waiting: a peer that takes nothing also answers nothing, and the
            # read timeout ends that wait.
            assert protocol.transport is not None
            protocol.transport.writelines([head.encode("latin-1"), body])  # the body uncopied
            await answer.read_head()
        except BaseException:
            await answer.aclose()
            raise
        return answer

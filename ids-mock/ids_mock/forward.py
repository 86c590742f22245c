"""The cloud's HTTP/1.1 client for its peers: one request per connection, the answer read in large blocks.

httpx reads a TLS connection one record (16 KiB) at a time and passes each through several layers,
which cost the cloud most of its CPU on a large artifact. Here the event loop's TLS transport hands
over whole socket reads and httptools parses them in C, so a GiB takes a few thousand rounds of
Python instead of 65,536.
"""

from __future__ import annotations

import asyncio
import base64
import zlib
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import httptools
import httpx

# Largest block read from a peer at once; a block is all the cloud holds of an answer's body.
READ_SIZE = 1024 * 1024
# Status line and headers of an answer: more is not an answer.
MAX_HEAD = 64 * 1024
# Encodings a peer might use although asked for identity; decoded as httpx did.
ZLIB_ENCODINGS = {"gzip", "x-gzip", "deflate"}


class ForwardError(Exception):
    """The peer was not reached, timed out, or broke the exchange."""


class _Answer:
    """httptools callbacks: collects the head, then body blocks as they are parsed."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.body: list[bytes] = []
        self.done = False

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

    def on_message_complete(self) -> None:
        if self.head_done:
            self.done = True


class PeerAnswer:
    """A peer's answer: status and headers known, the body streamed by `chunks()`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 read_timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._read_timeout = read_timeout
        self._answer = _Answer()
        self._decoder: zlib._Decompress | None = None
        self.status_code = 0
        self.headers: dict[str, str] = {}

    async def read_head(self) -> None:
        received = 0
        while not self._answer.head_done:
            received += await self._fill()
            if received > MAX_HEAD and not self._answer.head_done:
                raise ForwardError("the peer's answer has no end of its headers")
        self.status_code = self._answer.parser.get_status_code()
        self.headers = self._answer.headers
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding in ZLIB_ENCODINGS:
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header
        elif encoding != "identity":
            raise ForwardError(f"the peer's answer has an unknown content-encoding {encoding!r}")

    async def _fill(self) -> int:
        """Read one block from the peer into the parser; 0 at the end of the connection."""
        try:
            async with asyncio.timeout(self._read_timeout):
                data = await self._reader.read(READ_SIZE)
        except TimeoutError as exc:
            raise ForwardError(f"no data from the peer for {self._read_timeout:g} s") from exc
        except OSError as exc:  # ssl.SSLError included
            raise ForwardError(f"{type(exc).__name__}: {exc}") from exc
        if not data:
            if self._answer.head_done and not self._delimited():
                self._answer.done = True  # a body that ends with the connection
                return 0
            raise ForwardError("the peer closed the connection before the end of its answer")
        try:
            self._answer.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise ForwardError(f"the peer's answer is not HTTP/1.1: {exc}") from exc
        return len(data)

    def _delimited(self) -> bool:
        """Whether the body's end is marked (length or chunks) rather than the connection's end."""
        headers = self._answer.headers
        return ("content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
                or self._answer.parser.get_status_code() in (204, 304))

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in blocks of up to READ_SIZE."""
        answer = self._answer
        while True:
            if answer.body:
                block = answer.body[0] if len(answer.body) == 1 else b"".join(answer.body)
                answer.body.clear()
                if self._decoder is not None:
                    block = self._decoder.decompress(block)
                if block:
                    yield block
            if answer.done:
                if self._decoder is not None and (rest := self._decoder.flush()):
                    yield rest
                return
            await self._fill()

    async def read(self, limit: int) -> bytes:
        """At most `limit` bytes of the body (an error text, say); the rest is left unread."""
        kept = bytearray()
        async for block in self.chunks():
            kept += block[: limit - len(kept)]
            if len(kept) >= limit:
                break
        return bytes(kept)

    async def aclose(self) -> None:
        if self._answer.done:
            self._writer.close()
        else:
            self._writer.transport.abort()  # an answer not read to its end is not worth reading


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
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if https else None,
                    server_hostname=host if https else None, limit=READ_SIZE)
        except (OSError, TimeoutError) as exc:
            raise ForwardError(f"{type(exc).__name__}: {exc}") from exc
        login = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: */*\r\n"
                f"Accept-Encoding: identity\r\nConnection: close\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                f"Authorization: Basic {login}\r\n\r\n")
        answer = PeerAnswer(reader, writer, self._read_timeout)
        try:
            writer.write(head.encode("latin-1") + body)
            try:
                async with asyncio.timeout(self._read_timeout):
                    await writer.drain()
            except TimeoutError as exc:
                raise ForwardError(f"the peer took no data for {self._read_timeout:g} s") from exc
            except OSError as exc:
                raise ForwardError(f"{type(exc).__name__}: {exc}") from exc
            await answer.read_head()
        except BaseException:
            await answer.aclose()
            raise
        return answer

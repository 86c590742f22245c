"""The cloud's client for its peers against small servers that answer in every way HTTP/1.1 allows."""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import uvloop
from ids_mock.forward import MAX_HEAD, ForwardError, PeerClient
from ids_mock.tls import ensure_certificate

AUTH = ("peer-user", "peer-secret")
T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def loop_factory(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on both loops: the servers run on uvloop, whose TLS transport differs."""
    global LOOP_FACTORY
    LOOP_FACTORY = uvloop.new_event_loop if request.param == "uvloop" else None
    yield
    LOOP_FACTORY = None


LOOP_FACTORY: Callable[[], asyncio.AbstractEventLoop] | None = None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        return runner.run(coro)


async def _request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head, await reader.readexactly(length)


def _exchange(handler: Handler, client: PeerClient | None = None, ssl=None,
              scheme: str = "http", target: str = "/data") -> tuple[int, dict[str, str], bytes]:
    """Serve one connection with `handler`, post to it; (status, headers, body) of the answer."""

    async def run() -> tuple[int, dict[str, str], bytes]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl)
        port = server.sockets[0].getsockname()[1]
        try:
            answer = await (client or PeerClient(False, 5, 5)).post(
                f"{scheme}://127.0.0.1:{port}{target}", b"the message", "multipart/form-data; b=x",
                AUTH)
            try:
                body = b"".join([block async for block in answer.chunks()])
            finally:
                await answer.aclose()
            return answer.status_code, answer.headers, body
        finally:
            server.close()

    return _run(run())


def _answer(*parts: bytes, seen: list[tuple[bytes, bytes]] | None = None) -> Handler:
    """A server that reads the request (kept in `seen`, if given) and answers `parts`."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _request(reader)
        if seen is not None:
            seen.append(request)
        for part in parts:
            writer.write(part)
            await writer.drain()
        writer.close()

    return handler


def test_request_carries_login_type_length_and_body():
    seen: list[tuple[bytes, bytes]] = []
    handler = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Two: a\r\nX-Two: b\r\n\r\nok",
                      seen=seen)
    status, headers, body = _exchange(handler)
    assert (status, body, headers["x-two"]) == (200, b"ok", "a, b")
    head, sent = seen[0]
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "POST /data HTTP/1.1"
    login = base64.b64encode(b"peer-user:peer-secret").decode()
    assert f"Authorization: Basic {login}" in lines
    assert "Content-Type: multipart/form-data; b=x" in lines
    assert sent == b"the message"


def test_the_peer_urls_query_is_sent():
    seen: list[tuple[bytes, bytes]] = []
    _exchange(_answer(b"HTTP/1.1 204 No Content\r\n\r\n", seen=seen),
              target="/data?tenant=a%20b&x=1")
    lines = seen[0][0].decode("latin-1").split("\r\n")
    assert lines[0] == "POST /data?tenant=a%20b&x=1 HTTP/1.1"
    assert next(line for line in lines if line.startswith("Host: ")).startswith("Host: 127.0.0.1:")


def test_large_body_arrives_whole_in_large_blocks():
    payload = bytes(range(256)) * (3 * 4096)  # 3 MiB
    blocks: list[int] = []

    async def run():
        server = await asyncio.start_server(
            _answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload), payload),
            "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answer = await PeerClient(False, 5, 5).post(f"http://127.0.0.1:{port}/data", b"", "x", AUTH)
        got = bytearray()
        async for block in answer.chunks():
            blocks.append(len(block))
            got += block
        await answer.aclose()
        server.close()
        return bytes(got)

    assert _run(run()) == payload
    assert len(blocks) < len(payload) // 16384  # fewer rounds than TLS records


def test_chunked_and_close_delimited_bodies():
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"abc", b"defgh"))
    assert _exchange(_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                             chunked, b"0\r\n\r\n"))[2] == b"abcdefgh"
    assert _exchange(_answer(b"HTTP/1.1 200 OK\r\n\r\n", b"until ", b"the end"))[2] == b"until the end"


def test_interim_answer_is_skipped_and_gzip_is_decoded():
    packed = gzip.compress(b"plain text")
    status, headers, body = _exchange(_answer(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed),
        packed))
    assert (status, body) == (404, b"plain text")


@pytest.mark.parametrize("answer", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",),  # closed mid-body
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",),
    (b"this is not HTTP\r\n\r\n",),
    (b"",),  # closed without a word
    (b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * MAX_HEAD,),
])
def test_broken_answers_are_forward_errors(answer):
    with pytest.raises(ForwardError):
        _exchange(_answer(*answer))


def test_silent_peer_times_out():
    async def handler(reader, writer):
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    with pytest.raises(ForwardError, match="no data from the peer for 0.3 s"):
        _exchange(handler, PeerClient(False, 5, 0.3))


def test_nobody_listening_is_a_forward_error():
    async def run():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        await PeerClient(False, 5, 5).post(f"http://127.0.0.1:{port}/data", b"", "x", AUTH)

    with pytest.raises(ForwardError, match="ConnectionRefusedError"):
        _run(run())


def test_tls_with_a_self_signed_certificate(tmp_path):
    import ssl

    cert, key = ensure_certificate(tmp_path, "edge", ("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ok = _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert _exchange(ok, ssl=context, scheme="https")[2] == b"ok"
    # IDS_FORWARD_VERIFY_TLS=true: a certificate no authority signed is refused.
    with pytest.raises(ForwardError, match="CERTIFICATE_VERIFY_FAILED"):
        _exchange(ok, PeerClient(True, 5, 5), ssl=context, scheme="https")

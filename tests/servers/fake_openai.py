"""A fault-injecting OpenAI-compatible chat-completions server on a real 127.0.0.1 socket.

Not a mock of guardrail's HTTP layer: it is a small HTTP/1.1 server (asyncio streams, keep-alive)
running in its own thread, so the provider's httpx client, connection pool, timeouts and retries are
exercised exactly as against llama.cpp or vLLM.

Behaviour knobs (attributes, changeable while running):

* ``answers``: a list of reply texts served in rotation (a global counter across requests and
  choices), or a callable ``(request_body, sample_number) -> str``.
* ``latency``: seconds to wait before every reply.
* ``ignore_n``: answer ``n > 1`` with a single choice (like servers that ignore ``n``).
* ``reject_n``: answer ``n > 1`` with HTTP 400.
* ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401.
* ``token_logprob``: natural-log probability reported for every token when logprobs are asked.
* ``faults``: a FIFO of :class:`Fault` consumed one per chat request before normal service:
  ``Fault.status(429, retry_after=1)``, ``Fault.status(500)``, ``Fault.hang(seconds)`` (reply
  arrives too late: the client times out), ``Fault.truncated()`` (valid HTTP, JSON cut in half),
  ``Fault.reset()`` (TCP RST without a reply), ``Fault.edit(fn)`` (valid JSON, but the completion
  document passes through ``fn(document) -> document`` first: malformed fields a server may send),
  ``Fault.body(payload)`` (HTTP 200 with exactly these bytes as the body: a reply nested 100k deep,
  a 10 MB document), ``Fault.trickle(interval)`` (a valid reply sent one byte every ``interval``
  seconds: each read is quick, the whole reply is not).

* ``embeddings``: ``text -> vector`` for ``POST /v1/embeddings`` (``None``: that route is 404,
  like a server started without embeddings); ``embedding_requests`` records those bodies. Faults
  apply to embedding requests too.
* ``fault_source``: a callable ``(request_number) -> Fault | None`` consulted when ``faults`` is
  empty (:func:`fault_mix` gives the hostile mix of the fault-injection test and bench).
* ``refuse``: a callable ``(request_body) -> Fault | None`` consulted first for every chat
  request: a server that refuses some requests by what they carry (a field it does not accept,
  an unknown model), whatever order concurrent calls arrive in. ``openai_error(status, ...)``
  builds such a refusal with an OpenAI-shaped error body.

* ``stream: true`` requests get the answer as ``text/event-stream`` chat-completion chunks, one
  per word token (``_tokens``), ``stream_delay`` seconds apart, then ``data: [DONE]`` (the
  connection then closes). Faults of kind ``status`` apply to them too. Non-streamed replies
  also take ``stream_delay`` per token of their longest choice (the same generation time).
  A request with ``stream_options: {"include_usage": true}`` gets, before ``[DONE]``, a usage
  chunk (no choices) counted as for a non-streamed reply (words of the messages in, the
  streamed word tokens out), as OpenAI sends it; ``stream_usage = False`` makes the server
  ignore the option (no usage chunk, like servers that do not support it).
  ``ignore_stream``: answer ``stream: true`` with the plain ``application/json``
  ``chat.completion`` document instead (what many OpenAI-compatible servers do).

* ``hold``: a predicate ``(request_body) -> bool``; a chat request it accepts gets no reply
  until :meth:`release_held` is called or the client closes the connection (end of stream on
  the socket). ``disconnected`` records the bodies of held requests whose client went away
  before the reply: what a server sees when a client cancels an in-flight request.

``requests`` records every chat request body received, ``paths`` their request targets,
``request_times`` their arrival times (``time.monotonic()``) and ``max_active`` the largest
number of requests in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answers = list[str] | Callable[[dict[str, Any], int], str]


@dataclass
class Fault:
    kind: str
    status_code: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    edit_fn: Callable[[dict[str, Any]], Any] | None = None
    payload: bytes = b""

    @classmethod
    def status(cls, code: int, retry_after: float | str | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls("status", status_code=code, headers=headers)

    @classmethod
    def ok(cls) -> Fault:
        """No fault: serve this request normally (to aim a later fault at a later request)."""
        return cls("ok")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        return cls("truncated")

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def edit(cls, fn: Callable[[dict[str, Any]], Any]) -> Fault:
        return cls("edit", edit_fn=fn)

    @classmethod
    def body(cls, payload: bytes, status: int = 200, *, length_header: bool = True) -> Fault:
        """Reply with exactly ``payload``; without ``length_header`` the body is delimited by
        closing the connection (no Content-Length: a client cannot check the size up front)."""
        return cls("body", status_code=status, payload=payload, seconds=0 if length_header else -1)

    @classmethod
    def trickle(cls, interval: float) -> Fault:
        return cls("trickle", seconds=interval)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _tokens(text: str) -> list[str]:
    """Whitespace-preserving word tokens: "a b" -> ["a", " b"]."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return [t for t in out if t]


class FakeOpenAIServer:
    def __init__(
        self,
        answers: Answers | None = None,
        *,
        latency: float = 0.0,
        ignore_n: bool = False,
        reject_n: bool = False,
        api_key: str | None = None,
        token_logprob: float = -0.1,
    ) -> None:
        self.answers: Answers = answers if answers is not None else ["Paris."]
        self.latency = latency
        self.ignore_n = ignore_n
        self.reject_n = reject_n
        self.api_key = api_key
        self.token_logprob = token_logprob
        self.stream_delay = 0.0
        self.stream_usage = True  # honour stream_options.include_usage (a usage chunk)
        self.ignore_stream = False  # answer `stream: true` with a plain JSON chat.completion
        # when set, a request that offers `tools` is answered with this tool call (a function
        # {"name", "arguments"}), streamed or not: the reply is a tool call, not an answer
        self.tool_call: dict[str, str] | None = None
        self.embeddings: Callable[[str], list[float]] | None = None
        self.embedding_requests: list[dict[str, Any]] = []
        self.faults: deque[Fault] = deque()
        self.fault_source: Callable[[int], Fault | None] | None = None
        self.refuse: Callable[[dict[str, Any]], Fault | None] | None = None
        self.record = True  # False: keep no per-request lists (long fault-injection runs)
        self.served = 0
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.headers_seen: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.active = 0
        self.max_active = 0
        self.hold: Callable[[dict[str, Any]], bool] | None = None
        self.held = 0  # held requests still waiting
        self.disconnected: list[dict[str, Any]] = []
        self._release: asyncio.Event | None = None
        self._sample = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def release_held(self) -> None:
        """Let every held request (and any later one ``hold`` accepts) be answered."""
        self.hold = None
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers

    def _next_answer(self, body: dict[str, Any]) -> str:
        with self._lock:
            i = self._sample
            self._sample += 1
        if callable(self.answers):
            return self.answers(body, i)
        return self.answers[i % len(self.answers)]

    # -- HTTP plumbing

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(length) if length else b""
                keep = await self._serve(method, path, headers, raw, writer, reader)
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:
            # the server is stopping with this connection still open: end quietly (asyncio's
            # StreamReaderProtocol otherwise logs the cancelled handler task as an error)
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            "Content-Type: application/json",
        ]
        length = len(payload) if content_length is None else content_length
        if length >= 0:  # -1: no Content-Length, the body ends when the connection closes
            head.append(f"Content-Length: {length}")
        else:
            head.append("Connection: close")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()

    def _error(self, message: str) -> bytes:
        return json.dumps({"error": {"message": message, "type": "test"}}).encode()

    async def _serve(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader | None = None,
    ) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            await self._send(writer, 200, json.dumps({"data": [{"id": "fake-model"}]}).encode())
            return True
        if (
            method == "POST"
            and path.split("?", 1)[0].rstrip("/").endswith("/embeddings")
            and self.embeddings
        ):
            return await self._embed(json.loads(raw or b"{}"), writer)
        if method != "POST" or not path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            await self._send(writer, 404, self._error(f"no route {method} {path}"))
            return True
        body = json.loads(raw or b"{}")
        self.served += 1
        if self.record:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            self.headers_seen.append(headers)
            self.paths.append(path)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            await self._send(writer, 401, self._error("Incorrect API key provided"))
            return True
        held = self.hold is not None and reader is not None and self.hold(body)
        if held and reader is not None and not await self._held(reader):
            self.disconnected.append(body)
            return False
        fault = self.refuse(body) if self.refuse is not None else None
        if fault is None:
            fault = self.faults.popleft() if self.faults else None
        if fault is None and self.fault_source is not None:
            fault = self.fault_source(self.served)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._reply(body, fault, writer)
        finally:
            self.active -= 1

    async def _held(self, reader: asyncio.StreamReader) -> bool:
        """Wait for :meth:`release_held` (True) or the client's end of stream (False). An
        HTTP/1.1 client sends nothing more on the connection while it waits for this reply,
        so any read returning is the connection closing."""
        if self._release is None:
            self._release = asyncio.Event()
        self.held += 1
        try:
            closed = asyncio.ensure_future(reader.read(1))
            release = asyncio.ensure_future(self._release.wait())
            await asyncio.wait({closed, release}, return_when=asyncio.FIRST_COMPLETED)
            gone = closed.done()
            for t in (closed, release):
                t.cancel()
            return not gone
        finally:
            self.held -= 1

    async def _embed(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        self.embedding_requests.append(body)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind == "status":
            await self._send(writer, fault.status_code, self._error("injected"), fault.headers)
            return True
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        assert self.embeddings is not None
        document: Any = {
            "object": "list",
            "model": body.get("model", "fake-model"),
            "data": [
                {"object": "embedding", "index": i, "embedding": self.embeddings(t)}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        if fault is not None and fault.kind == "edit" and fault.edit_fn is not None:
            document = fault.edit_fn(document)
        payload = json.dumps(document).encode()
        if fault is not None and fault.kind == "truncated":
            payload = payload[: len(payload) // 2]
        await self._send(writer, 200, payload)
        return True

    async def _reply(
        self, body: dict[str, Any], fault: Fault | None, writer: asyncio.StreamWriter
    ) -> bool:
        if fault is not None:
            if fault.kind == "status":
                await self._send(writer, fault.status_code, self._error("injected"), fault.headers)
                return True
            if fault.kind == "reset":
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
            if fault.kind == "hang":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "body":
                if fault.seconds < 0:
                    await self._send(writer, fault.status_code, fault.payload, content_length=-1)
                    return False
                await self._send(writer, fault.status_code, fault.payload)
                return True
        if self.latency:
            await asyncio.sleep(self.latency)
        if body.get("stream") and not self.ignore_stream:
            return await self._stream(body, writer)
        n = int(body.get("n") or 1)
        if n > 1 and self.reject_n:
            await self._send(writer, 400, self._error("'n' is not supported"))
            return True
        if self.ignore_n:
            n = 1
        document: Any = self._completion(body, n)
        if self.stream_delay:  # generation time: the longest choice's tokens, one per delay
            longest = max(len(_tokens(c["message"]["content"])) for c in document["choices"])
            await asyncio.sleep(self.stream_delay * longest)
        if fault is not None and fault.kind == "edit" and fault.edit_fn is not None:
            document = fault.edit_fn(document)
        payload = json.dumps(document).encode()
        if fault is not None and fault.kind == "truncated":
            payload = payload[: len(payload) // 2]
        if fault is not None and fault.kind == "trickle":
            await self._send(writer, 200, payload[:1], content_length=len(payload))
            for i in range(1, len(payload)):
                await asyncio.sleep(fault.seconds)
                if writer.is_closing():  # the client gave up
                    return False
                writer.write(payload[i : i + 1])
                await writer.drain()
            return True
        # openai's LegacyAPIResponse.request_id reads this header: "req-" + the completion id
        rid = document.get("id") if isinstance(document, dict) else None
        await self._send(writer, 200, payload, {"x-request-id": f"req-{rid}"} if rid else None)
        return True

    async def _stream(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        """Server-sent chat-completion chunks, one per token; closes the connection at the end."""
        text = self._next_answer(body)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1"))
        base = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
        }
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant"}, None)]
        out_tokens = 0
        if self.tool_call is not None and body.get("tools"):
            call = {"index": 0, "id": "call_fake", "type": "function"}
            deltas.append(({"tool_calls": [{**call, "function": self.tool_call}]}, None))
            deltas.append(({}, "tool_calls"))
        else:
            out_tokens = len(_tokens(text))
            deltas += [({"content": t}, None) for t in _tokens(text)]
            deltas.append(({}, "stop"))
        for delta, finish in deltas:
            doc = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            writer.write(f"data: {json.dumps(doc)}\n\n".encode())
            await writer.drain()
            if self.stream_delay and delta.get("content"):
                await asyncio.sleep(self.stream_delay)
        opts = body.get("stream_options")
        if self.stream_usage and isinstance(opts, dict) and opts.get("include_usage"):
            in_tokens = _prompt_tokens(body)
            usage = {
                "prompt_tokens": in_tokens,
                "completion_tokens": out_tokens,
                "total_tokens": in_tokens + out_tokens,
            }
            doc = {**base, "choices": [], "usage": usage}
            writer.write(f"data: {json.dumps(doc)}\n\n".encode())
            await writer.drain()
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        return False

    def _completion(self, body: dict[str, Any], n: int) -> dict[str, Any]:
        choices = []
        out_tokens = 0
        top_k = int(body.get("top_logprobs") or 0)
        for i in range(n):
            text = self._next_answer(body)
            toks = _tokens(text)
            out_tokens += len(toks)
            choice: dict[str, Any] = {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
            if self.tool_call is not None and body.get("tools"):
                call = {"id": f"call_fake_{i}", "type": "function", "function": self.tool_call}
                choice["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
                choice["finish_reason"] = "tool_calls"
            if body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": t,
                            "logprob": self.token_logprob,
                            "top_logprobs": [
                                {"token": t, "logprob": self.token_logprob},
                                {"token": "<alt>", "logprob": -3.0},
                            ][:top_k],
                        }
                        for t in toks
                    ]
                }
            choices.append(choice)
        in_tokens = _prompt_tokens(body)
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": choices,
            "usage": {
                "prompt_tokens": in_tokens,
                "completion_tokens": out_tokens,
                "total_tokens": in_tokens + out_tokens,
            },
        }


def _prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens the fake server reports: word tokens over the messages' contents."""
    return sum(len(_tokens(str(m.get("content", "")))) for m in body.get("messages", []))


def _document(content: str) -> bytes:
    doc = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    return json.dumps(doc).encode()  # ensure_ascii: a lone surrogate travels as \ud800


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Fault:
    """An HTTP ``status`` reply whose body is OpenAI's error shape
    ``{"error": {"message", "type", "param", "code"}}`` (what OpenAI sends for a 4xx)."""
    doc = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Fault.body(json.dumps(doc).encode(), status=status)


def fault_mix(seed: int = 0, *, trickle_share: float = 0.02) -> Callable[[int], Fault | None]:
    """The hostile mix of issue 12 as a ``fault_source``: per request, with fixed odds,

    ========================  ======  ================================================
    fault                     share   what it exercises
    ========================  ======  ================================================
    none                      rest    normal service
    deep JSON (40k, 80 KB)    6 %     RecursionError in json.loads (under the size cap)
    deep JSON (100k, 200 KB)  2 %     the size cap
    lone surrogate + NUL      10 %    encoders, the next request body, the stores
    10 MB reply               2 %     the size cap (declared Content-Length)
    10 MB, no length header   1 %     the size cap while streaming
    trickle (1 byte / 0.1 s)  2 %     the total per-attempt / guard deadline
    TCP reset                 5 %     retries
    HTTP 500 / 503            6 %     retries
    HTTP 429 Retry-After 1    4 %     retries, capped Retry-After
    truncated JSON            3 %     retries
    ========================  ======  ================================================
    """
    import random

    deep40 = b"[" * 40_000 + b"]" * 40_000
    deep100 = b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    big = _document("maybe perhaps " * 750_000)  # ~10.5 MB
    weird = _document("Paris \ud800 is\x00 the capital, I think.")
    table: list[tuple[float, Callable[[], Fault]]] = [
        (0.06, lambda: Fault.body(deep40)),
        (0.02, lambda: Fault.body(deep100)),
        (0.10, lambda: Fault.body(weird)),
        (0.02, lambda: Fault.body(big)),
        (0.01, lambda: Fault.body(big, length_header=False)),
        (trickle_share, lambda: Fault.trickle(0.1)),
        (0.05, Fault.reset),
        (0.03, lambda: Fault.status(500)),
        (0.03, lambda: Fault.status(503)),
        (0.04, lambda: Fault.status(429, retry_after=1)),
        (0.03, Fault.truncated),
    ]
    rng = random.Random(seed)
    lock = threading.Lock()

    def pick(_: int) -> Fault | None:
        with lock:
            x = rng.random()
        for share, make in table:
            if x < share:
                return make()
            x -= share
        return None

    return pick


def role_answers(
    *,
    answer: str = "Paris.",
    samples: list[str] | None = None,
    followup: str = "Confidence: 80%",
    by_model: dict[str, str] | None = None,
) -> Callable[[dict[str, Any], int], str]:
    """A fake-server responder that answers by the role of the request: the answer call,
    a sampling call (temperature set by the policy's `samples`), the verbalized follow-up, or an
    ensemble model (by model name). Samples rotate through `samples`."""
    counter = {"sample": 0}
    sample_list = samples or ["Paris."]

    def respond(body: dict[str, Any], _: int) -> str:
        model = body.get("model", "")
        if by_model and model in by_model:
            return by_model[model]
        last = body["messages"][-1]["content"]
        if isinstance(last, list):  # content parts: their text
            last = "\n".join(p.get("text", "") for p in last if p.get("type") == "text")
        if last.startswith("How likely is it that your previous answer is correct"):
            return followup
        if body.get("temperature") == 0.9:
            i = counter["sample"]
            counter["sample"] += 1
            return sample_list[i % len(sample_list)]
        return answer

    return respond


def main() -> None:
    """Serve in the foreground (for bench/): ``python tests/servers/fake_openai.py --latency 0.05``.
    Prints ``READY <base_url>`` once listening."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--ignore-n", action="store_true")
    ap.add_argument("--fault-mix", type=int, default=None, metavar="SEED", help="fault_mix(SEED)")
    ap.add_argument("--answer", action="append", help="reply text (repeat: served in rotation)")
    ap.add_argument("--stream-delay", type=float, default=0.0, help="seconds per token")
    args = ap.parse_args()
    srv = FakeOpenAIServer(args.answer, latency=args.latency, ignore_n=args.ignore_n)
    srv.stream_delay = args.stream_delay
    if args.fault_mix is not None:
        srv.fault_source = fault_mix(args.fault_mix)
        srv.record = False
    srv.start()
    print(f"READY {srv.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()

"""The guarding proxy: an OpenAI-compatible HTTP API in front of any OpenAI-compatible upstream.

Routes:

- ``POST /v1/chat/completions``: the request's messages are answered through
  :meth:`guardrail.Guard.chat` under the policy of the chosen domain; the reply is a
  ``ChatCompletion`` (or, with ``stream: true``, ``ChatCompletionChunk`` server-sent events) whose
  content is what the policy lets the user see. The verdict rides in the extra ``guardrail``
  field (the final chunk's when streaming) and in ``X-Guardrail-*`` headers.
- ``GET /v1/models``: the upstream's models, each also as ``model@domain``.
- ``GET /healthz``: ``{"ok": true, "domains": [...]}``.
- ``GET /metrics``: Prometheus text format (``prometheus-client``).

Domain of a request, first found wins: header ``X-Guardrail-Domain``; a model suffix
(``gpt-4o@medical``, removed before the upstream sees the name); ``metadata.guardrail_domain`` or
``metadata.domain`` in the body; the ``default_domain`` setting; the only policy when there is
one. A name without a policy gives 400 listing the domains.

Streaming, ``hold`` (every domain not in ``live_domains``): nothing is sent until the policy
decided; then the text the user may see (answer + notice, abstention or review message) is sent as
chunks, the last one with ``finish_reason`` ``"stop"``, or ``"content_filter"`` when the answer was
withheld. ``live`` (domains in ``live_domains``): the upstream's tokens are relayed as they
arrive, the answer is then judged with :meth:`Guard.assess`, and the stream ends with the notice
(``"stop"``) or a retraction: ``"content_filter"`` with verdict ``retracted: true`` and the
``replacement`` text.

Credentials: the client's ``Authorization: Bearer`` key is passed to the upstream (or
``upstream_api_key`` from the settings when the client sends none); with a proxy ``token`` set,
``Authorization`` must carry that token and the upstream key comes from
``X-Upstream-Authorization``. Keys are never logged, put in verdicts, metrics or review items.
See ``docs/serve.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

try:
    import httpx
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        "guardrail serve needs the 'web' extra: pip install 'guardrail-uq[web]'"
    ) from exc

from guardrail.decisions.log import DecisionSink
from guardrail.policy import Policy, load_policies
from guardrail.providers import (
    AuthenticationError,
    ChatProvider,
    Message,
    OpenAICompatProvider,
    ProviderConnectionError,
    normalize_messages,
)
from guardrail.review import ReviewStore
from guardrail.review.backends import open_store, store_url
from guardrail.sdk.guard import Guard
from guardrail.sdk.models import GuardedResponse
from guardrail.serve.settings import ServeSettings

__all__ = [
    "DOMAIN_HEADER",
    "VERDICT_FIELD",
    "create_app",
    "create_app_from_env",
    "resolve_domain",
    "verdict",
]

log = logging.getLogger("guardrail.serve")

DOMAIN_HEADER = "X-Guardrail-Domain"
#: Name of the extra field carrying the verdict in a ChatCompletion / the final chunk.
VERDICT_FIELD = "guardrail"


class ApiError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code or type_

    def response(self) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "message": self.message,
                    "type": self.type,
                    "param": None,
                    "code": self.code,
                }
            },
            status_code=self.status,
        )


# ---------------------------------------------------------------------------------- metrics


class _Metrics:
    """Prometheus metrics of one app (own registry: several apps in one process don't clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "guardrail_serve_requests",
            "Chat completion requests answered, by domain, decided action and stream flag.",
            ["domain", "action", "stream"],
            registry=self.registry,
        )
        self.errors = Counter(
            "guardrail_serve_errors",
            "Chat completion requests refused or failed, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "guardrail_serve_request_seconds",
            "Wall-clock seconds of a guarded chat completion (all model calls included).",
            ["domain"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.model_calls = Counter(
            "guardrail_serve_model_calls",
            "Upstream model calls made by the guard (answer, samples, follow-ups, ensemble).",
            ["domain"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "guardrail_serve_tokens",
            "Tokens reported by the upstream over all the guard's calls.",
            ["domain", "kind"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "guardrail_serve_in_flight",
            "Chat completion requests being guarded right now.",
            registry=self.registry,
        )

    def observe(self, r: GuardedResponse, *, stream: bool) -> None:
        action = r.action.value if r.action is not None else "failed"
        self.requests.labels(r.domain, action, str(stream).lower()).inc()
        self.latency.labels(r.domain).observe(r.cost.latency_s)
        self.model_calls.labels(r.domain).inc(r.cost.calls)
        self.tokens.labels(r.domain, "input").inc(r.cost.input_tokens)
        self.tokens.labels(r.domain, "output").inc(r.cost.output_tokens)


# ---------------------------------------------------------------------------------- runtime


class _Runtime:
    """What the app holds between requests: policies, the review store, one Guard per upstream
    key (an LRU of ``max_keys``; each owns an httpx pool), metrics."""

    def __init__(self, settings: ServeSettings, store: ReviewStore | None = None) -> None:
        self.settings = settings
        self.policies: dict[str, Policy] = load_policies(settings.policies)
        if not self.policies:
            raise ValueError(f"no policies in {settings.policies}")
        if settings.default_domain is not None and settings.default_domain not in self.policies:
            raise ValueError(
                f"default domain {settings.default_domain!r} has no policy; "
                f"known domains: {', '.join(sorted(self.policies))}"
            )
        unknown = sorted(set(settings.live_domains) - set(self.policies))
        if unknown:
            raise ValueError(
                f"live domain(s) {', '.join(unknown)} have no policy; "
                f"known domains: {', '.join(sorted(self.policies))}"
            )
        self._own_store = store is None
        self.store: ReviewStore = (
            store if store is not None else open_store(store_url(settings.store))
        )
        self.decision_log: DecisionSink | None = None
        if settings.decision_log:
            from guardrail.decisions.sinks import open_decision_sink

            self.decision_log = open_decision_sink(
                settings.decision_log, ship_to=settings.decision_log_ship_to
            )
        self.metrics = _Metrics()
        self._guards: OrderedDict[str, Guard] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        """The shared client for direct upstream requests (model list, live streams)."""
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.upstream_timeout, connect=10.0)
            )
        return self._http

    @property
    def domains(self) -> list[str]:
        return sorted(self.policies)

    def upstream_key(self, client_key: str | None) -> str:
        """The key to send upstream: the client's, else the configured one, else none ("")."""
        if client_key:
            return client_key
        if self.settings.upstream_api_key is not None:
            return self.settings.upstream_api_key.get_secret_value()
        return ""  # never the server's own $OPENAI_API_KEY

    def _make_guard(self, provider: ChatProvider | None) -> Guard:
        s = self.settings
        return Guard(
            self.policies,
            provider,
            model=s.model,
            review_store=self.store,
            spot_check=s.spot_check,
            timeout=s.timeout,
            hold_reviews=s.hold_reviews,
            eager_samples=s.eager_samples,
            decision_log=self.decision_log,
        )

    def guard_for(self, key: str) -> Guard:
        """The Guard whose provider sends ``key`` upstream (cached by the key's SHA-256)."""
        if self.settings.upstream is None:
            key = ""  # the embedded model: one guard, keys are irrelevant
        slot = hashlib.sha256(key.encode()).hexdigest()
        guard = self._guards.get(slot)
        if guard is not None:
            self._guards.move_to_end(slot)
            return guard
        provider: ChatProvider | None = None
        if self.settings.upstream is not None:
            provider = OpenAICompatProvider(
                self.settings.upstream,
                api_key=key,
                model=self.settings.model,
                timeout=self.settings.upstream_timeout,
                max_retries=self.settings.max_retries,
            )
        guard = self._make_guard(provider)
        self._guards[slot] = guard
        while len(self._guards) > self.settings.max_keys:
            _, old = self._guards.popitem(last=False)
            task = asyncio.get_running_loop().create_task(old.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return guard

    async def aclose(self) -> None:
        for guard in self._guards.values():
            await guard.aclose()
        self._guards.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self._own_store:
            await asyncio.to_thread(self.store.close)
        if self.decision_log is not None:
            await asyncio.to_thread(self.decision_log.close)


# ---------------------------------------------------------------------------------- helpers


def resolve_domain(
    *,
    header: str | None,
    model: str | None,
    metadata: Any,
    domains: list[str],
    default: str | None,
) -> tuple[str, str | None]:
    """The request's domain and the model name to send upstream.

    Order: ``header``; the ``@domain`` suffix of ``model`` (split at the last ``@``; the suffix
    is removed from the upstream model name whether or not the header decided); ``metadata``'s
    ``guardrail_domain`` or ``domain``; ``default``; the only domain when there is one.

    Raises:
        ApiError: 400 for a named domain without a policy, or when none is named and there is
            no default (the message lists the domains).
    """
    upstream_model = model or None
    suffix: str | None = None
    if model and "@" in model:
        upstream_model, suffix = model.rsplit("@", 1)
        upstream_model = upstream_model or None
    meta: str | None = None
    if isinstance(metadata, Mapping):
        raw = metadata.get("guardrail_domain") or metadata.get("domain")
        meta = raw if isinstance(raw, str) else None
    for name in (header, suffix, meta):
        if name:
            if name not in domains:
                raise ApiError(
                    400,
                    f"no policy for domain {name!r}; known domains: {', '.join(domains)}",
                    code="unknown_domain",
                )
            return name, upstream_model
    if default is not None:
        return default, upstream_model
    if len(domains) == 1:
        return domains[0], upstream_model
    raise ApiError(
        400,
        f"no domain chosen (header {DOMAIN_HEADER}, model suffix 'model@domain' or "
        f"metadata.guardrail_domain) and no default; known domains: {', '.join(domains)}",
        code="unknown_domain",
    )


def _withheld(r: GuardedResponse, hold_reviews: bool) -> bool:
    """True when the user does not see the model's answer (abstained, or held for review)."""
    return r.status == "abstained" or (r.status == "pending_review" and hold_reviews)


def verdict(r: GuardedResponse, *, hold_reviews: bool = True) -> dict[str, Any]:
    """The documented verdict object (``docs/serve.md``): status, action, domain, policy,
    matched rules, notices, the policy's message, missing signals, signal values, review and
    spot-check ids, request id, guard cost, ``withheld`` (the answer was not shown), and for
    ``live`` streams ``retracted`` / ``replacement`` (the streamed answer is withdrawn and this
    text replaces it)."""
    d = r.decision
    return {
        "status": r.status,
        "action": r.action.value if r.action is not None else None,
        "domain": r.domain,
        "policy": r.policy,
        "rules": [m.rule for m in d.matched] if d is not None else [],
        "notices": list(r.notices),
        "message": d.message if d is not None else None,
        "missing": list(d.missing) if d is not None else [],
        "signals": dict(r.values),
        "review_id": r.review_id,
        "spot_check_id": r.spot_check_id,
        "request_id": r.request_id,
        "withheld": _withheld(r, hold_reviews),
        "retracted": False,
        "replacement": None,
        "cost": {
            "calls": r.cost.calls,
            "input_tokens": r.cost.input_tokens,
            "output_tokens": r.cost.output_tokens,
            "latency_s": round(r.cost.latency_s, 4),
        },
    }


def _headers(r: GuardedResponse) -> dict[str, str]:
    d = r.decision
    out = {
        "X-Guardrail-Status": r.status,
        "X-Guardrail-Action": r.action.value if r.action is not None else "failed",
        "X-Guardrail-Domain": r.domain,
        "X-Guardrail-Rules": ",".join(m.rule for m in d.matched) if d is not None else "",
        "X-Guardrail-Request-Id": r.request_id,
    }
    if r.review_id:
        out["X-Guardrail-Review-Id"] = r.review_id
    return out


def _usage(r: GuardedResponse) -> dict[str, int]:
    return {
        "prompt_tokens": r.cost.input_tokens,
        "completion_tokens": r.cost.output_tokens,
        "total_tokens": r.cost.input_tokens + r.cost.output_tokens,
    }


_PIECE = re.compile(r"\S+\s*|\s+")


def _pieces(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is ``text`` exactly."""
    return _PIECE.findall(text)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned task's exception as retrieved (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


def _chunk(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None, **extra: Any
) -> str:
    """One ``ChatCompletionChunk`` as a server-sent event."""
    doc: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(doc)}\n\n"


def _authorize(request: Request, settings: ServeSettings) -> str | None:
    """Check the proxy token (if any) and return the client's upstream key (or None)."""
    auth = request.headers.get("authorization") or ""
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if settings.token is None:
        return bearer or None
    expected = settings.token.get_secret_value().encode()
    if bearer is None or not secrets.compare_digest(bearer.encode(), expected):
        raise ApiError(
            401, "missing or wrong proxy token", type_="authentication_error", code="invalid_token"
        )
    up = request.headers.get("x-upstream-authorization") or ""
    return (up[7:].strip() if up[:7].lower() == "bearer " else up.strip()) or None


def _int_param(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApiError(400, f"'{name}' must be a non-negative integer")
        return value
    return None


# ---------------------------------------------------------------------------------- app


def create_app(settings: ServeSettings, *, store: ReviewStore | None = None) -> FastAPI:
    """The guarding proxy as a FastAPI app (serve it with uvicorn).

    Args:
        settings: :class:`~guardrail.serve.ServeSettings`.
        store: a review store to use instead of opening ``settings.store`` (tests; the caller
            closes it).

    Returns:
        FastAPI app; policies and the store are loaded here (errors surface at start-up).

    Raises:
        FileNotFoundError: the policies path does not exist.
        guardrail.policy.PolicyError: a policy does not parse or check.
        ValueError: no policies, a default domain without a policy, a bad store URL.
    """
    if not settings.policies.exists():
        raise FileNotFoundError(f"no policy file or directory at {settings.policies}")
    rt = _Runtime(settings, store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await rt.aclose()

    app = FastAPI(title="guardrail serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = rt

    def runtime() -> _Runtime:
        return rt

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        rt.metrics.errors.labels(str(exc.status)).inc()
        return exc.response()

    @app.get("/healthz")
    async def healthz(r: _Runtime = Depends(runtime)) -> dict[str, Any]:  # noqa: B008
        return {
            "ok": True,
            "domains": r.domains,
            "live_domains": sorted(r.settings.live_domains),
        }

    @app.get("/metrics")
    async def metrics(r: _Runtime = Depends(runtime)) -> Response:  # noqa: B008
        return Response(generate_latest(r.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models(request: Request, r: _Runtime = Depends(runtime)) -> dict[str, Any]:  # noqa: B008
        key = r.upstream_key(_authorize(request, r.settings))
        ids: list[str] = []
        if r.settings.upstream is None:
            from guardrail.providers import DEFAULT_LOCAL_MODEL

            ids = [r.settings.model or DEFAULT_LOCAL_MODEL]
        else:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            url = r.settings.upstream.rstrip("/") + "/models"
            try:
                resp = await r.http().get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise ApiError(
                    502, f"upstream unreachable ({type(exc).__name__})", type_="upstream_error"
                ) from None
            if resp.status_code == 401:
                raise ApiError(
                    401, "the upstream rejected the credentials", type_="authentication_error"
                )
            if resp.status_code != 200:
                raise ApiError(502, f"upstream answered {resp.status_code}", type_="upstream_error")
            try:
                ids = [str(m["id"]) for m in resp.json().get("data", [])]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ApiError(
                    502, "upstream sent a malformed model list", type_="upstream_error"
                ) from None
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "guardrail"}
            for base in ids
            for name in [base, *(f"{base}@{d}" for d in r.domains)]
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        request: Request,
        r: _Runtime = Depends(runtime),  # noqa: B008
    ) -> Response:
        client_key = _authorize(request, r.settings)
        limit = r.settings.max_request_bytes
        size, parts = 0, []
        async for part in request.stream():  # bounded: never more than `limit` bytes in memory
            size += len(part)
            if size > limit:
                raise ApiError(413, f"the request body is larger than {limit} bytes")
            parts.append(part)
        try:
            body = json.loads(b"".join(parts))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        stream = bool(body.get("stream"))
        n = body.get("n")
        if n not in (None, 1):
            raise ApiError(400, "only n=1 is supported by guardrail serve")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, "'model' must be a string")
        domain, upstream_model = resolve_domain(
            header=request.headers.get(DOMAIN_HEADER),
            model=model,
            metadata=body.get("metadata"),
            domains=r.domains,
            default=r.settings.default_domain,
        )
        try:
            messages: list[Message] = normalize_messages(body.get("messages"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        max_tokens = _int_param(body, "max_completion_tokens", "max_tokens")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ApiError(400, "'seed' must be an integer")
        key = r.upstream_key(client_key)
        guard = r.guard_for(key)
        rid = uuid.uuid4().hex
        if stream and domain in r.settings.live_domains and r.settings.upstream is not None:
            return await _live_stream(
                r,
                guard,
                key,
                messages,
                body,
                domain=domain,
                model=upstream_model,
                request_id=rid,
                max_tokens=max_tokens,
                seed=seed,
            )
        r.metrics.in_flight.inc()
        try:
            resp = await guard.chat(
                messages,
                domain=domain,
                model=upstream_model,
                request_id=rid,
                max_tokens=max_tokens,
                seed=seed,
            )
        except AuthenticationError:
            raise ApiError(
                401, "the upstream rejected the credentials", type_="authentication_error"
            ) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        finally:
            r.metrics.in_flight.dec()
        r.metrics.observe(resp, stream=stream)
        log.info(
            "request %s domain=%s status=%s action=%s calls=%d latency=%.3fs",
            rid,
            resp.domain,
            resp.status,
            resp.action.value if resp.action is not None else "-",
            resp.cost.calls,
            resp.cost.latency_s,
        )
        if resp.status == "failed":
            # the answer could not be obtained (upstream down) or a held answer could not be
            # queued: an error the client may retry, never a half-guarded answer
            status = 502 if resp.action is None else 503
            raise ApiError(status, resp.error or "guard failed", type_="upstream_error")
        withheld = _withheld(resp, r.settings.hold_reviews)
        finish = "content_filter" if withheld else "stop"
        v = verdict(resp, hold_reviews=r.settings.hold_reviews)
        created = int(time.time())
        cid = f"chatcmpl-{rid}"
        headers = _headers(resp)
        if not stream:
            doc = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": resp.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": resp.text},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                ],
                "usage": _usage(resp),
                VERDICT_FIELD: v,
            }
            return JSONResponse(doc, headers=headers)
        opts = body.get("stream_options")
        include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None, **extra: Any) -> str:
            doc: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": resp.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            return f"data: {json.dumps(doc)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""}, None)
            for piece in _pieces(resp.text):
                yield chunk({"content": piece}, None)
            yield chunk({}, finish, **{VERDICT_FIELD: v})
            if include_usage:
                doc = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": resp.model,
                    "choices": [],
                    "usage": _usage(resp),
                }
                yield f"data: {json.dumps(doc)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return app


async def _live_stream(
    r: _Runtime,
    guard: Guard,
    key: str,
    messages: list[Message],
    body: Mapping[str, Any],
    *,
    domain: str,
    model: str | None,
    request_id: str,
    max_tokens: int | None,
    seed: int | None,
) -> StreamingResponse:
    """``live`` mode: relay the upstream's tokens as they arrive while :meth:`Guard.assess` waits
    for the whole answer (its samples already running, with ``eager_samples``); a withheld
    answer is retracted by the final chunk (``finish_reason: "content_filter"``, verdict
    ``retracted: true`` and ``replacement``)."""
    model_name = model or r.settings.model or "default"
    payload: dict[str, Any] = {
        "model": model_name,
        "messages": [m.model_dump() for m in messages],
        "stream": True,
        "max_tokens": max_tokens if max_tokens is not None else guard.max_tokens,
    }
    if seed is not None:
        payload["seed"] = seed
    assert r.settings.upstream is not None
    url = r.settings.upstream.rstrip("/") + "/chat/completions"
    http = r.http()
    req = http.build_request(
        "POST", url, json=payload, headers={"Authorization": f"Bearer {key}"} if key else {}
    )
    # the assessment starts before the answer stream: with eager samples they run meanwhile
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    judging = asyncio.ensure_future(
        guard.assess(
            messages,
            answer,
            domain=domain,
            model=model,
            request_id=request_id,
            max_tokens=max_tokens,
            seed=seed,
        )
    )

    def abandon() -> None:
        judging.cancel()
        answer.cancel()
        judging.add_done_callback(_retrieve)

    try:
        up = await http.send(req, stream=True)
    except httpx.HTTPError as exc:
        abandon()
        raise ApiError(
            502, f"upstream unreachable ({type(exc).__name__})", type_="upstream_error"
        ) from None
    except BaseException:
        abandon()
        raise
    if up.status_code != 200:
        abandon()
        await up.aclose()
        if up.status_code in (401, 403):
            raise ApiError(
                401, "the upstream rejected the credentials", type_="authentication_error"
            )
        raise ApiError(502, f"upstream answered {up.status_code}", type_="upstream_error")
    cid = f"chatcmpl-{request_id}"
    created = int(time.time())
    opts = body.get("stream_options")
    include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))

    async def events() -> AsyncIterator[str]:
        parts: list[str] = []
        r.metrics.in_flight.inc()
        try:
            yield _chunk(cid, created, model_name, {"role": "assistant", "content": ""}, None)
            try:
                async for line in up.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        piece = json.loads(data)["choices"][0]["delta"].get("content")
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        continue  # a malformed or empty event carries no text
                    if isinstance(piece, str) and piece:
                        parts.append(piece)
                        yield _chunk(cid, created, model_name, {"content": piece}, None)
            except httpx.HTTPError as exc:
                answer.set_exception(
                    ProviderConnectionError(f"the upstream stream broke ({type(exc).__name__})")
                )
            finally:
                await up.aclose()
            if not answer.done():
                answer.set_result("".join(parts))
            try:
                resp: GuardedResponse | None = await judging
            except AuthenticationError:
                resp = None
            if resp is None:  # the upstream refused the samples' credentials
                v: dict[str, Any] = {
                    "status": "failed",
                    "action": None,
                    "domain": domain,
                    "request_id": request_id,
                    "withheld": True,
                    "retracted": True,
                    "replacement": guard.failure_message,
                    "error": "the upstream rejected the credentials",
                }
                r.metrics.errors.labels("stream").inc()
                yield _chunk(cid, created, model_name, {}, "content_filter", guardrail=v)
            else:
                r.metrics.observe(resp, stream=True)
                v = verdict(resp, hold_reviews=r.settings.hold_reviews)
                if v["withheld"] or resp.status == "failed":
                    # review/abstain, or nothing could be judged (broken or empty stream)
                    v.update(withheld=True, retracted=True, replacement=resp.text)
                    if resp.error:
                        v["error"] = resp.error
                    yield _chunk(cid, created, model_name, {}, "content_filter", guardrail=v)
                else:
                    tail = (
                        resp.text[len(resp.answer) :] if resp.text.startswith(resp.answer) else ""
                    )
                    if tail:  # the notice, after the streamed answer
                        yield _chunk(cid, created, model_name, {"content": tail}, None)
                    yield _chunk(cid, created, model_name, {}, "stop", guardrail=v)
                if include_usage:
                    usage = {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model_name,
                        "choices": [],
                        "usage": _usage(resp),
                    }
                    yield f"data: {json.dumps(usage)}\n\n"
            log.info(
                "live request %s domain=%s status=%s",
                request_id,
                domain,
                resp.status if resp is not None else "failed",
            )
            yield "data: [DONE]\n\n"
        finally:
            r.metrics.in_flight.dec()
            if not judging.done():  # the client went away: stop the assessment
                judging.cancel()
                if not answer.done():
                    answer.cancel()
            judging.add_done_callback(_retrieve)

    headers = {"X-Guardrail-Stream": "live", "X-Guardrail-Request-Id": request_id}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def create_app_from_env() -> FastAPI:
    """:func:`create_app` with :meth:`ServeSettings.from_env` (uvicorn's ``--factory`` target
    for several workers: ``guardrail.serve.app:create_app_from_env``)."""
    return create_app(ServeSettings.from_env())

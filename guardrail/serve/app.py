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

Request fields: ``messages``, ``model``, the token cap (``max_tokens`` /
``max_completion_tokens``) and ``seed`` shape every call; :data:`FORWARDED_FIELDS` (the drop-in
client's answer-only decision) go to the answer call only; ``n`` other than 1, ``audio`` and
``stream_options`` without ``stream`` are 400; any other field is dropped.

Errors: OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``. A 4xx of the upstream
answer call (the caller's request or key) is answered with that status and the upstream's error
(:func:`upstream_refusal`; 429 keeps ``Retry-After``); 5xx, connection failures and timeouts are
502; signal calls refused after the answer only make their signal missing.

Credentials: the client's ``Authorization: Bearer`` key is passed to the upstream (or
``upstream_api_key`` from the settings when the client sends none); with a proxy ``token`` set,
``Authorization`` must carry that token and the upstream key comes from
``X-Upstream-Authorization``. Keys are never logged, put in verdicts, metrics or review items.
See ``docs/serve.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
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
from guardrail.policy.bundled import bundled_policies_dir
from guardrail.providers import (
    AuthenticationError,
    ChatProvider,
    Message,
    OpenAICompatProvider,
    ProviderConnectionError,
    ProviderError,
    ToolCallReply,
    normalize_messages,
)
from guardrail.providers.params import InvalidArgumentError, check_sampling_args
from guardrail.review import ReviewStore
from guardrail.review.backends import open_store, store_url
from guardrail.sdk.answer_call import (
    ANSWER_FIELDS,
    ANSWER_SLOT,
    AnswerSlot,
    caller_logprobs,
    check_guardable,
    first_choice,
    with_recorder,
)
from guardrail.sdk.guard import Guard
from guardrail.sdk.models import GuardedResponse, StreamMode
from guardrail.sdk.streaming import completion_chunks, guarded_stream
from guardrail.sdk.verdict import verdict, withheld
from guardrail.serve.settings import ServeSettings

__all__ = [
    "DOMAIN_HEADER",
    "VERDICT_FIELD",
    "create_app",
    "create_app_from_env",
    "resolve_domain",
    "upstream_refusal",
    "verdict",
]

log = logging.getLogger("guardrail.serve")

DOMAIN_HEADER = "X-Guardrail-Domain"
#: Name of the extra field carrying the verdict in a ChatCompletion / the final chunk.
VERDICT_FIELD = "guardrail"


class ApiError(Exception):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str = "",
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code or type_
        self.param = param
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """This error as an HTTP response with OpenAI's error body and ``status``."""
        return JSONResponse(
            {
                "error": {
                    "message": self.message,
                    "type": self.type,
                    "param": self.param,
                    "code": self.code,
                }
            },
            status_code=self.status,
            headers=self.headers or None,
        )


#: Upstream statuses passed to the caller as they are: the caller's request (or key) caused them
#: and resending it unchanged fails again. 429 is passed too (with ``Retry-After``); 5xx,
#: connection failures and timeouts stay 502 (the upstream failed, not the request).
_UPSTREAM_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def upstream_refusal(exc: BaseException | None, *, own_key: bool) -> ApiError | None:
    """The error to answer when the upstream refused the answer call with a 4xx, else ``None``.

    The status is the upstream's (400, 404 unknown model, 413, 422, ...; 401/403: the upstream
    refused the key, as LiteLLM's proxy answers; 429 with ``Retry-After`` in whole seconds,
    rounded up, when the upstream sent one). The body keeps the upstream's OpenAI-shaped error
    (``message``, ``type``, ``param``, ``code``) when it sent one; otherwise the message names
    the upstream status and its error text.

    Args:
        exc: what the answer call raised (a :class:`~guardrail.providers.ProviderError` carries
            ``status_code`` and the upstream's ``error`` object).
        own_key: the key sent upstream was the configured ``upstream_api_key``, not the
            caller's (named in the 401/403 message: the operator has to fix it).
    """
    if not isinstance(exc, ProviderError):
        return None
    status = exc.status_code
    if status is None or not 400 <= status < 500:
        return None
    err = exc.error or {}
    default_type = _UPSTREAM_TYPES.get(status, "invalid_request_error")
    if status in (401, 403):
        whose = "guardrail serve's configured upstream key" if own_key else "the credentials"
        detail = err.get("message")
        message = f"the upstream rejected {whose} (HTTP {status})" + (
            f": {detail}" if detail else ""
        )
    elif err.get("message"):
        message = str(err["message"])
    else:
        detail = str(exc).split(": ", 1)[-1].strip()
        message = f"the upstream answered HTTP {status}" + (f": {detail}" if detail else "")
    headers: dict[str, str] = {}
    if status == 429 and exc.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(exc.retry_after)))
    return ApiError(
        status,
        message,
        type_=err.get("type") or default_type,
        code=err.get("code") or "",
        param=err.get("param"),
        headers=headers,
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
        self.policies_path = policies_path(settings)
        self.policies: dict[str, Policy] = load_policies(self.policies_path)
        if not self.policies:
            raise ValueError(f"no policies in {self.policies_path}")
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

    def stream_mode(self, domain: str, requested: str | None) -> StreamMode:
        """The stream mode of a request: the policy's ``stream`` setting
        (:attr:`Policy.stream_mode`), ``live`` for a domain in the ``live_domains`` setting
        (``--live``), and ``hold`` whenever the client asks for it (header
        ``X-Guardrail-Stream: hold``; a client can only make its stream safer)."""
        if (requested or "").strip().lower() == "hold":
            return "hold"
        if domain in self.settings.live_domains:
            return "live"
        return self.policies[domain].stream_mode

    @property
    def live_domains(self) -> list[str]:
        """Domains whose streams are ``live`` unless the client asks for ``hold``."""
        return [d for d in self.domains if self.stream_mode(d, None) == "live"]

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
            # the recorder forwards a request's answer-only fields (tools, temperature, ...) to
            # the answer call and sees a tool-call reply (guardrail/sdk/answer_call.py)
            provider = with_recorder(
                OpenAICompatProvider(
                    self.settings.upstream,
                    api_key=key,
                    model=self.settings.model,
                    timeout=self.settings.upstream_timeout,
                    max_retries=self.settings.max_retries,
                )
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


def policies_path(settings: ServeSettings) -> Path:
    """The policy directory or file to load: ``settings.policies``, else the CLI's resolution
    (:func:`guardrail.policy.bundled.bundled_policies_dir`: ``$GUARDRAIL_POLICIES``,
    ``./policies``, the bundled policies).

    Raises:
        FileNotFoundError: the path does not exist, or none of those does.
    """
    if settings.policies is not None:
        if not settings.policies.exists():
            raise FileNotFoundError(f"no policy file or directory at {settings.policies}")
        return settings.policies
    found = bundled_policies_dir()
    if found is None:
        raise FileNotFoundError(
            "no policies found: no --policies, $GUARDRAIL_POLICIES, ./policies or bundled policies"
        )
    return found


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


def _first(body: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present in ``body`` (checked by
    :func:`~guardrail.providers.params.check_sampling_args`), else None."""
    for name in names:
        if body.get(name) is not None:
            return body[name]
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
            "live_domains": r.live_domains,
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
            if resp.status_code in (401, 403):  # as for chat completions (upstream_refusal)
                raise ApiError(
                    resp.status_code,
                    f"the upstream rejected the credentials (HTTP {resp.status_code})",
                    type_=_UPSTREAM_TYPES[resp.status_code],
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
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise ApiError(400, "'stream' must be a boolean", param="stream")
        try:  # types and ranges, n / audio / stream_options: the checks the drop-in uses too
            check_sampling_args(body)
            check_guardable(body)
        except InvalidArgumentError as exc:
            raise ApiError(400, str(exc), param=exc.param) from None
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
        max_tokens = _first(body, "max_completion_tokens", "max_tokens")
        seed = body.get("seed")
        options = _answer_options(body) if r.settings.upstream is not None else {}
        key = r.upstream_key(client_key)
        guard = r.guard_for(key)
        rid = uuid.uuid4().hex
        slot = AnswerSlot(options=options)
        if stream:
            mode = r.stream_mode(domain, request.headers.get(STREAM_HEADER))
            return await _stream(
                r,
                guard,
                messages,
                body,
                slot,
                client_key=client_key,
                mode=mode,
                domain=domain,
                model=upstream_model,
                request_id=rid,
                max_tokens=max_tokens,
                seed=seed,
            )
        r.metrics.in_flight.inc()
        token = ANSWER_SLOT.set(slot)
        try:
            resp = await guard.chat(
                messages,
                domain=domain,
                model=upstream_model,
                request_id=rid,
                max_tokens=max_tokens,
                seed=seed,
            )
        except ToolCallReply:  # a tool call: passed through unguarded (below)
            resp = None
        except AuthenticationError as exc:
            raise _refusal(exc, client_key) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        finally:
            ANSWER_SLOT.reset(token)
            r.metrics.in_flight.dec()
        if slot.tool_calls and slot.raw is not None:  # a tool call: passed through unguarded
            r.metrics.requests.labels(domain, "tool_calls", "false").inc()
            doc = {**slot.raw, VERDICT_FIELD: _unguarded(domain, rid)}
            return JSONResponse(doc, headers=_unguarded_headers(domain, rid))
        if resp is None:
            raise ApiError(502, "the upstream's tool-call reply was not readable")
        r.metrics.observe(resp, stream=False)
        _log(resp)
        _raise_if_failed(resp, slot, client_key)
        withheld_ = withheld(resp, hold_reviews=r.settings.hold_reviews)
        doc = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": resp.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": resp.text},
                    "finish_reason": "content_filter" if withheld_ else "stop",
                    # the answer call's log-probs, as the caller asked for them; none for a
                    # withheld answer (the policy's own need for them does not show here)
                    "logprobs": caller_logprobs(
                        first_choice(slot.raw).get("logprobs"), options, shown=not withheld_
                    ),
                }
            ],
            "usage": _usage(resp),
            VERDICT_FIELD: verdict(resp, hold_reviews=r.settings.hold_reviews),
        }
        return JSONResponse(doc, headers=_headers(resp))

    return app


#: Request header a client may send to ask for a ``hold`` stream on a ``live`` domain (never the
#: other way: whether a domain's answers may be shown before the decision is the policy's call).
STREAM_HEADER = "X-Guardrail-Stream"

#: Request fields forwarded to the upstream *answer* call only (never to the samples, follow-up
#: or ensemble calls, which use the policy's settings): they shape the reply the user sees. The
#: drop-in client's decision (:data:`guardrail.sdk.answer_call.ANSWER_FIELDS`), except
#: ``max_completion_tokens``, which serve reads as the token cap of every call (as
#: ``max_tokens``).
FORWARDED_FIELDS: tuple[str, ...] = tuple(f for f in ANSWER_FIELDS if f != "max_completion_tokens")


def _answer_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-only fields of a request (:data:`FORWARDED_FIELDS`); the sampling ones were
    checked by :func:`~guardrail.providers.params.check_sampling_args`, ``tools`` is checked
    here."""
    out: dict[str, Any] = {}
    for name in FORWARDED_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if name == "tools" and not (
            isinstance(value, list) and all(isinstance(x, Mapping) for x in value)
        ):
            raise ApiError(400, "'tools' must be a list of objects", param="tools")
        out[name] = value
    return out


def _log(resp: GuardedResponse) -> None:
    log.info(
        "request %s domain=%s status=%s action=%s calls=%d latency=%.3fs",
        resp.request_id,
        resp.domain,
        resp.status,
        resp.action.value if resp.action is not None else "-",
        resp.cost.calls,
        resp.cost.latency_s,
    )


def _refusal(exc: ProviderError, client_key: str | None) -> ApiError:
    """:func:`upstream_refusal` of a credentials error (401 when it carries no 4xx status)."""
    err = upstream_refusal(exc, own_key=not client_key)
    if err is None:
        return ApiError(401, "the upstream rejected the credentials", type_="authentication_error")
    return err


def _raise_if_failed(resp: GuardedResponse, slot: AnswerSlot, client_key: str | None) -> None:
    """The upstream refused the answer call with a 4xx (the caller's request or key: that status,
    :func:`upstream_refusal`), the answer could not be obtained otherwise (upstream down or
    failing: 502), or a held answer could not be queued (503): an error, never a half-guarded
    answer."""
    if resp.status == "failed":
        if resp.action is None:
            refused = upstream_refusal(slot.exc, own_key=not client_key)
            if refused is not None:
                raise refused
        status = 502 if resp.action is None else 503
        raise ApiError(status, resp.error or "guard failed", type_="upstream_error")


def _unguarded(domain: str, request_id: str) -> dict[str, Any]:
    """The verdict of a reply that is a tool call (passed through, not judged)."""
    return {
        "status": "unguarded",
        "action": None,
        "reason": "tool_calls",
        "domain": domain,
        "request_id": request_id,
        "withheld": False,
        "retracted": False,
        "replacement": None,
    }


def _unguarded_headers(domain: str, request_id: str) -> dict[str, str]:
    return {
        "X-Guardrail-Status": "unguarded",
        "X-Guardrail-Domain": domain,
        "X-Guardrail-Request-Id": request_id,
    }


async def _stream(
    r: _Runtime,
    guard: Guard,
    messages: list[Message],
    body: Mapping[str, Any],
    slot: AnswerSlot,
    *,
    client_key: str | None,
    mode: StreamMode,
    domain: str,
    model: str | None,
    request_id: str,
    max_tokens: int | None,
    seed: int | None,
) -> StreamingResponse:
    """``stream: true``: :func:`guardrail.sdk.streaming.guarded_stream` written out as
    ``ChatCompletionChunk`` server-sent events. The first event is awaited before the response
    starts, so failures known by then are HTTP errors (hold: the whole decision; live: the
    upstream's answer stream up to its first token)."""
    events = guarded_stream(
        guard,
        messages,
        domain=domain,
        mode=mode,
        model=model,
        request_id=request_id,
        max_tokens=max_tokens,
        seed=seed,
        slot=slot,
        raise_early=True,
    )
    r.metrics.in_flight.inc()
    try:
        first = await anext(events)
    except (ProviderError, TimeoutError) as exc:
        r.metrics.in_flight.dec()
        refused = upstream_refusal(exc, own_key=not client_key)
        if refused is not None:  # a 4xx: the caller's request or key (401, 429 ... included)
            raise refused from None
        code = getattr(exc, "status_code", None)
        if code is not None:
            message = f"upstream answered {code}"
        elif isinstance(exc, ProviderConnectionError | TimeoutError):
            message = f"upstream unreachable ({type(exc).__name__})"
        else:  # an error event or error document, a malformed or oversized reply
            message = f"upstream failed ({type(exc).__name__})"
        raise ApiError(502, message, type_="upstream_error") from None
    except ValueError as exc:
        r.metrics.in_flight.dec()
        raise ApiError(400, str(exc)) from None
    except BaseException:
        r.metrics.in_flight.dec()
        raise
    if first.response is not None and first.response.status == "failed":
        await _close(events)
        r.metrics.in_flight.dec()
        r.metrics.observe(first.response, stream=True)
        _raise_if_failed(first.response, slot, client_key)
    cid = f"chatcmpl-{request_id}"
    created = int(time.time())
    model_name = (
        first.response.model
        if first.response is not None
        else (model or r.settings.model or "default")
    )
    opts = body.get("stream_options")
    include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
    if first.tool_calls and first.type == "done":
        headers = {**_unguarded_headers(domain, request_id), STREAM_HEADER: mode}
    elif mode == "hold" and first.response is not None:
        headers = {**_headers(first.response), STREAM_HEADER: "hold"}
    else:
        headers = {STREAM_HEADER: "live", "X-Guardrail-Request-Id": request_id}

    async def out() -> AsyncIterator[str]:
        try:
            async for c in completion_chunks(
                first,
                events,
                chunk_id=cid,
                created=created,
                model=model_name,
                hold_reviews=r.settings.hold_reviews,
                include_usage=include_usage,
            ):
                doc = c.doc
                if c.final and c.tool_calls:  # passed through unguarded
                    r.metrics.requests.labels(domain, "tool_calls", "true").inc()
                    doc = {**doc, VERDICT_FIELD: _unguarded(domain, request_id)}
                elif c.final and c.response is not None:
                    resp = c.response
                    r.metrics.observe(resp, stream=True)
                    _log(resp)
                    v = verdict(resp, hold_reviews=r.settings.hold_reviews)
                    if c.retracted:
                        v.update(withheld=True, retracted=True, replacement=c.replacement)
                    if resp.error and (c.retracted or resp.status == "failed"):
                        v["error"] = resp.error
                    doc = {**doc, VERDICT_FIELD: v}
                yield f"data: {json.dumps(doc)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            r.metrics.in_flight.dec()
            await _close(events)

    return StreamingResponse(out(), media_type="text/event-stream", headers=headers)


async def _close(events: AsyncIterator[Any]) -> None:
    closer = getattr(events, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


def create_app_from_env() -> FastAPI:
    """:func:`create_app` with :meth:`ServeSettings.from_env` (uvicorn's ``--factory`` target
    for several workers: ``guardrail.serve.app:create_app_from_env``)."""
    return create_app(ServeSettings.from_env())

"""The Guard: ask a model, gather the signals a domain policy needs (cheapest first), decide.

Flow of one :meth:`Guard.chat` (see ``docs/sdk.md`` for the full picture):

1. The answer call: the user's messages (with the inline confidence instruction appended when the
   policy uses ``verbalized inline``), asking for token log-probs when a rule reads
   ``logprob_confidence``.
2. Free signals from that answer: ``hedges``/``boosters``/``hedge_label``, ``reply_kind``,
   ``logprob_confidence``,
   inline ``verbalized``, and ``domain``/``stakes`` given by the application.
3. Cost-aware loop: ask the policy which not-yet-computed signals could still change the action
   (:meth:`~guardrail.policy.Policy.signals_that_matter`); compute the cheapest of them
   (follow-up ``verbalized`` = 1 call < ``consistency``/``semantic_entropy`` = k samples <
   ``agreement`` = one call per ensemble model, run concurrently); repeat until nothing left can
   change the action. Signals never computed are reported as ``skipped``.
4. Evaluate the policy; build the text the user sees (notice attached, abstention message, or the
   answer held for review with a review id); record spans and ``gen_ai.evaluation.result`` events.

Failure handling: a signal whose calls fail after the provider's retries is *missing*; the policy's
``on_missing`` applies and the decision names it. The host never sees an exception for a model or
parse failure unless ``strict=True``; a failed *answer* call gives ``status="failed"``. Two things
always raise: :class:`~guardrail.providers.AuthenticationError` (misconfiguration, never an
abstention) and invalid arguments (unknown domain, malformed messages: ``ValueError``). Anything
else that goes wrong inside the guard (a review store that is full, locked or closed; an unexpected
error) gives ``status="failed"`` with ``error`` naming it (``GuardError`` in strict mode); an answer
that had to be held for review but could not be queued is never shown (``docs/security.md``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import _logs, metrics, trace
from opentelemetry.trace import Span, SpanContext

from guardrail._safety import clean_text
from guardrail.decisions.log import DecisionRecord, DecisionSink, now_utc
from guardrail.policy import Action, Decision, Policy, load_policies
from guardrail.providers import (
    AuthenticationError,
    BadRequestError,
    ChatProvider,
    ChatResult,
    Choice,
    Message,
    MessagesLike,
    ProviderError,
    ResponseFormatError,
    ToolCallReply,
    Usage,
    make_provider,
    normalize_messages,
    run_sync,
)
from guardrail.review import (
    InMemoryReviewStore,
    ReviewItem,
    ReviewReason,
    ReviewStore,
    SpotCheckSampler,
)
from guardrail.sdk.models import Cost, GuardedResponse, SignalReport, StreamEvent, StreamMode
from guardrail.sdk.sample_plan import (
    EnsembleState,
    SampleState,
    agreement_box,
    agreement_settled,
    consistency_box,
    ensemble_state,
    next_ensemble_wave,
    next_wave,
    settled,
)
from guardrail.sdk.signal_steps import (
    SIGNAL_TIERS,
    StepOutput,
    agreement_with_answer,
    consistency_from_samples,
    equivalence_for,
    free_signals,
    verbalized_from_reply,
)
from guardrail.signals.verbalized import followup_messages, inline_messages, strip_confidence_line

if TYPE_CHECKING:  # numpy loads only when a policy uses a profile or the sampled signals
    from guardrail.calibration import CalibrationProfile
    from guardrail.signals.consistency import AsyncSimilarity, Similarity
from guardrail.tracing import (
    CANCEL_NOT_NEEDED,
    CANCEL_STOPPED_EARLY,
    cancel_by_guardrail,
    cancelled_by_guardrail,
    capture_content_enabled,
    emit_evaluation,
    end_guard_span,
    error_type_of,
    get_event_logger,
    get_metrics,
    get_tracer,
    guard_span,
    model_call_span,
    record_error,
    record_result,
    server_of,
)

__all__ = [
    "DEFAULT_FAILURE_MESSAGE",
    "DEFAULT_REVIEW_MESSAGE",
    "DEFAULT_TIMEOUT",
    "Guard",
    "GuardError",
    "GuardTimeoutError",
]

DEFAULT_FAILURE_MESSAGE = "Sorry, I can't answer right now. Please try again later."
DEFAULT_REVIEW_MESSAGE = "This answer is waiting for review by a person before it can be shown."
DEFAULT_ABSTAIN_MESSAGE = "I can't answer this reliably."
#: Whole-guard timeout (seconds) when none is given: a guarded chat never waits forever.
DEFAULT_TIMEOUT = 120.0


class GuardError(Exception):
    """Raised only in strict mode: the answer or a signal could not be obtained."""


class GuardTimeoutError(GuardError):
    """Strict mode: the whole-guard timeout expired."""


class ReviewStoreTimeout(Exception):
    """The review store did not confirm an enqueue before the guard's deadline (+ grace)."""


#: Seconds a review-store write may take beyond the guard's deadline before the chat gives up on it.
STORE_GRACE = 0.5


SignalValue = float | int | str | None


@dataclass
class _Run:
    """Mutable state of one guarded chat."""

    policy: Policy
    provider: ChatProvider
    model: str
    messages: list[Message]
    span: Span
    deadline: float | None
    capture: bool
    max_tokens: int | None
    seed: int | None
    answer: str = ""
    answer_id: str | None = None  # gen_ai.response.id of the answer call (evaluation events)
    answer_span: SpanContext | None = None  # the answer's chat span (log-based events' parent)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unused_calls: int = 0  # of calls: speculative requests whose reply no signal used
    unmetered_calls: int = 0  # of calls: usage not reported (a live answer without usage chunk)
    # speculative / eager tasks whose calls are already sorted into used / unused
    accounted: set[asyncio.Task[ChatResult]] = field(default_factory=set)
    values: dict[str, SignalValue] = field(default_factory=dict)
    reports: dict[str, SignalReport] = field(default_factory=dict)
    timed_out: bool = False
    eager: bool = False  # start the samples with the answer (Guard.eager_samples or a stream)
    # plan latency: the k sample calls started alongside the answer (index i = seed + 1 + i)
    speculative: list[asyncio.Task[ChatResult]] | None = None
    # plan latency: the ensemble models' calls started alongside the answer (policy order)
    ensemble_tasks: list[asyncio.Task[ChatResult]] | None = None
    prefetched: asyncio.Task[ChatResult] | None = None  # eager samples, started with the answer
    # plan latency, `verbalized followup`: why the inline statement was unusable (then the
    # follow-up is asked after all)
    inline_missing: str | None = None

    @property
    def question(self) -> str | None:
        """The last user message: the question the answer responds to."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), None)

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def add(self, out: StepOutput, calls: int = 0) -> None:
        """Record computed/missing signals from one step."""
        for name, (value, reason, detail) in out.items():
            self.values[name] = value
            self.reports[name] = SignalReport(
                name=name,
                status="computed" if value is not None else "missing",
                value=value,
                reason=reason,
                calls=calls,
                detail=detail,
            )
            calls = 0  # the step's calls are attributed to its first signal only

    def missing(self, names: list[str], reason: str) -> None:
        self.add({n: (None, reason, {}) for n in names})


class Guard:
    """Guarded chat completions under per-domain uncertainty policies.

    Args:
        policies: domain name -> :class:`~guardrail.policy.Policy` (a policy's name is its domain).
        provider: the chat provider; default: the embedded local model (``guardrail-uq[local]``),
            created on first use.
        model: default model name (else the provider's default).
        ensemble_providers: model name -> provider for models served elsewhere: ``ensemble``
            models and the ``model`` of an ``agreement "embedding"|"entailment"`` backend;
            models not listed are asked through ``provider``.
        review_store: where ``review`` decisions (and spot checks) are queued; default an
            :class:`~guardrail.review.InMemoryReviewStore`.
        spot_check: a :class:`~guardrail.review.SpotCheckSampler` sending a share of non-review
            answers to the queue, or ``True`` for one built from the policies' ``spot_check``
            settings (domains without one: 0). Default: off.
        timeout: whole-guard timeout in seconds (default :data:`DEFAULT_TIMEOUT`, 120 s;
            ``None``: none). When it expires after the answer arrived, uncomputed signals are
            missing (``on_missing`` applies); before, the result is ``failed``
            (``GuardTimeoutError`` in strict mode).
        strict: raise :class:`GuardError` instead of degrading on model/parse failures.
        capture_content: record prompts/answers in traces (default: env
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, else off).
        tracer_provider: OpenTelemetry tracer provider (default: the global one).
        meter_provider: OpenTelemetry meter provider for the ``gen_ai.client.*`` histograms and
            the ``guardrail.decisions`` counter (default: the global one; never installed).
        logger_provider: OpenTelemetry logger provider: evaluation results become log-based
            events parented to the evaluated chat span (default: none, span events instead).
        max_tokens: completion cap for every call (``None``: the server's default).
        temperature: temperature of the answer call (samples use the policy's temperature).
        hold_reviews: ``True`` (default) withholds the answer of a ``review`` decision until a
            reviewer labels it; ``False`` shows it with its notices and still queues it.
        notice_format: how a notice is attached: ``{answer}`` and ``{notice}`` placeholders.
        decision_log: a :class:`~guardrail.decisions.DecisionSink` (e.g.
            :class:`~guardrail.decisions.JSONLDecisionLog`) receiving one
            :class:`~guardrail.decisions.DecisionRecord` per guarded call (signal values, missing
            and skipped signals, action, matched rules, cost; question/answer only with
            ``capture_content``, through the review store's redaction hook). A sink that fails
            never fails the call: the failure is recorded on the span and in ``error``. Default:
            none.
        eager_samples: start the policy's ``samples`` call together with the answer call (they
            do not depend on the answer), so a chat that needs them waits about one call instead
            of two. When the plan then finds they cannot change the action the call is cancelled
            if still running (it still counts as one call in ``cost``: the request was sent).
            Applies to policies without a ``plan`` (``plan latency`` already starts the
            samples with the answer; ``plan cost`` draws them in waves). Default off;
            ``guardrail serve`` turns it on.

    Raises:
        ValueError: no policies.
    """

    def __init__(
        self,
        policies: Mapping[str, Policy],
        provider: ChatProvider | None = None,
        *,
        model: str | None = None,
        ensemble_providers: Mapping[str, ChatProvider] | None = None,
        review_store: ReviewStore | None = None,
        spot_check: SpotCheckSampler | bool | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        strict: bool = False,
        capture_content: bool | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        logger_provider: _logs.LoggerProvider | None = None,
        max_tokens: int | None = 512,
        temperature: float | None = None,
        hold_reviews: bool = True,
        eager_samples: bool = False,
        notice_format: str = "{answer}\n\n{notice}",
        failure_message: str = DEFAULT_FAILURE_MESSAGE,
        decision_log: DecisionSink | None = None,
    ) -> None:
        if not policies:
            raise ValueError("a Guard needs at least one policy")
        self.policies = dict(policies)
        self._provider = provider
        self.model = model
        self.ensemble_providers = dict(ensemble_providers or {})
        self.review_store: ReviewStore = (
            review_store if review_store is not None else InMemoryReviewStore()
        )
        self.spot_check: SpotCheckSampler | None = (
            SpotCheckSampler.from_policies(self.policies, default_rate=0.0)
            if spot_check is True
            else (spot_check or None)
        )
        self.timeout = timeout
        self.strict = strict
        self.capture_content = capture_content
        self._tracer = get_tracer(tracer_provider)
        self._metrics = get_metrics(meter_provider)
        self._event_logger = get_event_logger(logger_provider)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.hold_reviews = hold_reviews
        self.eager_samples = eager_samples
        self.notice_format = notice_format
        self.failure_message = failure_message
        self.decision_log = decision_log
        # a profile, or why it could not be loaded (then `calibrated` is missing, never raised)
        self._profiles: dict[Path, CalibrationProfile | str] = {}
        self._versions: dict[str, str | None] = {}

    @classmethod
    def from_policies(
        cls,
        path: str | Path | None = None,
        provider: ChatProvider | None = None,
        **kwargs: Any,
    ) -> Guard:
        """A guard over the policies in a directory (``*.guard`` files) or a single policy file.

        ``path=None`` resolves like the CLI (:func:`guardrail.policy.bundled.bundled_policies_dir`):
        ``$GUARDRAIL_POLICIES``, then ``./policies``, then the policies bundled with guardrail.

        Raises:
            FileNotFoundError: ``path`` does not exist (or, with ``path=None``, none of those does).
            guardrail.policy.PolicyError: a policy does not parse or check.
        """
        if path is None:
            from guardrail.policy.bundled import bundled_policies_dir

            found = bundled_policies_dir()
            if found is None:
                raise FileNotFoundError(
                    "no policies found: no $GUARDRAIL_POLICIES, ./policies or bundled policies"
                )
            path = found
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no policy file or directory at {p}")
        return cls(load_policies(p), provider, **kwargs)

    @property
    def provider(self) -> ChatProvider:
        """The answer provider (the embedded local model is created on first use)."""
        if self._provider is None:
            self._provider = make_provider()
        return self._provider

    @property
    def domains(self) -> list[str]:
        """Domains this guard has a policy for."""
        return sorted(self.policies)

    def policy_for(self, domain: str | None) -> Policy:
        """The policy of ``domain`` (the only policy when there is one and ``domain`` is None).

        Raises:
            ValueError: unknown domain (the message lists the known ones).
        """
        if domain is None and len(self.policies) == 1:
            return next(iter(self.policies.values()))
        if domain is None or domain not in self.policies:
            raise ValueError(
                f"no policy for domain {domain!r}; known domains: {', '.join(self.domains)}"
            )
        return self.policies[domain]

    async def aclose(self) -> None:
        """Close the providers' connections."""
        if self._provider is not None:
            await self._provider.aclose()
        for p in self.ensemble_providers.values():
            await p.aclose()

    # ------------------------------------------------------------------ public entry points

    def chat_sync(self, messages: MessagesLike, **kwargs: Any) -> GuardedResponse:
        """Blocking twin of :meth:`chat` (safe inside a running event loop's threads)."""
        return run_sync(self.chat(messages, **kwargs))

    async def chat(
        self,
        messages: MessagesLike,
        *,
        domain: str | None = None,
        model: str | None = None,
        stakes: str | None = None,
        context: Mapping[str, str] | None = None,
        request_id: str | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> GuardedResponse:
        """Answer ``messages`` under the policy of ``domain``.

        Args:
            messages: OpenAI-shaped chat messages (dicts or :class:`~guardrail.providers.Message`).
            domain: which policy applies (optional when the guard has one policy).
            model: model for the answer (default: the guard's, then the provider's).
            stakes: ``low``/``medium``/``high``, the ``stakes`` signal given by the application.
            context: values for message placeholders (``knowledge_cutoff``, ...).
            request_id: the application's request id (used for review items and spot checks).
            max_tokens: completion cap for this chat's calls (default: the guard's).
            seed: base seed for reproducible sampling where the server supports it.

        Returns:
            :class:`~guardrail.sdk.models.GuardedResponse`.

        Raises:
            ValueError: unknown domain or malformed messages.
            AuthenticationError: the provider rejected the credentials (always raised).
            GuardError: strict mode only, on model/parse failure or timeout.
            ToolCallReply: the provider reported that the answer call returned tool calls
                (only wrappers that pass ``tools`` do: the drop-in client, ``guardrail
                serve``); nothing was evaluated, telemetry shows no failure.
        """
        return await self._entry(
            messages,
            None,
            domain=domain,
            model=model,
            stakes=stakes,
            context=context,
            request_id=request_id,
            max_tokens=max_tokens,
            seed=seed,
        )

    def assess_sync(
        self, messages: MessagesLike, answer: str | Choice, **kwargs: Any
    ) -> GuardedResponse:
        """Blocking twin of :meth:`assess`."""
        return run_sync(self.assess(messages, answer, **kwargs))

    async def assess(
        self,
        messages: MessagesLike,
        answer: str | Choice | Awaitable[str | Choice],
        *,
        domain: str | None = None,
        model: str | None = None,
        stakes: str | None = None,
        context: Mapping[str, str] | None = None,
        request_id: str | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> GuardedResponse:
        """Judge an answer made elsewhere (a LiteLLM post-call hook, a LangChain callback, a proxy
        that already has the reply) under the policy of ``domain``: the same plan as
        :meth:`chat` with the answer call replaced by ``answer``.

        Free signals (hedges, reply kind; ``logprob_confidence`` when ``answer`` is a
        :class:`~guardrail.providers.Choice` carrying token log-probs) are computed locally;
        samples, the verbalized follow-up and ensemble answers are asked of the guard's
        provider with ``messages`` (the conversation *without* the answer) and ``model``. The
        policy's ``verbalized inline`` mode cannot apply to a reply that was not asked for a
        confidence line, so ``verbalized`` comes from the follow-up turn instead. Signal
        designs and their sources are those of :meth:`chat` (``docs/sdk.md``).

        Args:
            messages: the conversation the answer responds to (OpenAI-shaped, last turn the
                user's), without the answer itself.
            answer: the assistant reply text, or a :class:`~guardrail.providers.Choice` (its
                ``text``, ``finish_reason`` and ``logprobs`` are used), or an awaitable of
                either: an answer still being made (a stream being relayed). With
                ``eager_samples`` the samples start at once, concurrently with it; the guard's
                timeout covers the wait. An awaitable that raises, or gives an empty answer,
                gives ``status="failed"`` (``GuardError`` in strict mode).
            domain, model, stakes, context, request_id, max_tokens, seed: as in :meth:`chat`;
                ``model`` names the model that the samples/follow-up are asked of (the same
                model that made ``answer`` for the signals to mean what the policy assumes).

        Returns:
            :class:`~guardrail.sdk.models.GuardedResponse` with ``cost`` counting only the
            calls the assessment made (the answer's own call is not guardrail's).

        Raises:
            ValueError: unknown domain, malformed messages, or an empty/blank ``answer``.
            AuthenticationError: the provider rejected the credentials (always raised).
            GuardError: strict mode only, on model/parse failure or timeout.

        Examples:
            >>> guard.assess_sync(  # doctest: +SKIP
            ...     [{"role": "user", "content": "Is ibuprofen an NSAID?"}],
            ...     "Yes, ibuprofen is an NSAID.",
            ...     domain="medical",
            ... ).status
            'answered'
        """
        supplied: Choice | Awaitable[str | Choice]
        if isinstance(answer, str | Choice):
            supplied = _as_choice(answer)
            if not supplied.text.strip():
                raise ValueError("the answer to assess is empty")
        else:
            supplied = answer
        return await self._entry(
            messages,
            supplied,
            domain=domain,
            model=model,
            stakes=stakes,
            context=context,
            request_id=request_id,
            max_tokens=max_tokens,
            seed=seed,
        )

    def stream(
        self,
        messages: MessagesLike,
        *,
        domain: str | None = None,
        mode: StreamMode | None = None,
        model: str | None = None,
        stakes: str | None = None,
        context: Mapping[str, str] | None = None,
        request_id: str | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Answer ``messages`` under the policy of ``domain`` as a stream of
        :class:`~guardrail.sdk.models.StreamEvent` s (``async for ev in guard.stream(...)``).

        ``mode`` (default: the policy's ``stream`` setting, :attr:`Policy.stream_mode
        <guardrail.policy.Policy.stream_mode>`):

        * ``hold``: nothing of an undecided answer is yielded; once the policy decided, the text
          the user may see (answer + notice, abstention or review message, or the failure
          message) comes as word-sized ``delta`` events, every one carrying the verdict in
          ``response``; then ``done``.
        * ``live``: the model's tokens are yielded as the provider streams them
          (``OpenAICompatProvider.stream_chat``; other providers give the whole answer as one
          delta) while :meth:`assess` judges the answer with its samples already running. The
          stream ends with the notice as a last ``delta`` and ``done``, or, when the decision is
          review or abstain or the answer could not be judged, with a ``retraction`` (``text``:
          the replacement to show instead of everything streamed) and ``done``
          (``retracted=True``).

        The samples start together with the answer call in both modes (eager samples), so a
        policy that needs only samples waits about one model call. Signal designs and sources
        as :meth:`chat` (``docs/sdk.md``). ``response.cost`` counts every call of the guard in
        both modes, a ``live`` stream's answer call included: its tokens are the usage chunk the
        provider asked the server for (``stream_options.include_usage``), so the same replies
        cost the same as :meth:`chat`; a server that sends no usage chunk leaves the answer's
        tokens out and counts it in ``cost.unmetered_calls``. Closing the iterator early
        cancels the guard's pending calls (nothing is queued).

        Raises:
            ValueError: unknown domain, malformed messages, or a ``mode`` other than
                ``hold`` / ``live`` (on the first ``__anext__``).
            AuthenticationError: the provider rejected the credentials before any event.
            GuardError: strict mode only, as :meth:`chat`.
        """
        from guardrail.sdk.streaming import guarded_stream

        return guarded_stream(
            self,
            messages,
            domain=domain,
            mode=mode,
            model=model,
            stakes=stakes,
            context=context,
            request_id=request_id,
            max_tokens=max_tokens,
            seed=seed,
        )

    def stream_sync(self, messages: MessagesLike, **kwargs: Any) -> Iterator[StreamEvent]:
        """Blocking twin of :meth:`stream` (same arguments and events; ``for ev in ...``); each
        event is produced on guardrail's background event loop."""
        from guardrail.sdk.streaming import iterate_sync

        return iterate_sync(self.stream(messages, **kwargs))

    async def _entry(
        self,
        messages: MessagesLike,
        supplied: Choice | Awaitable[str | Choice | StreamedAnswer] | None,
        *,
        domain: str | None,
        model: str | None,
        stakes: str | None,
        context: Mapping[str, str] | None,
        request_id: str | None,
        max_tokens: int | None,
        seed: int | None,
        eager: bool = False,
        streamed: bool = False,
    ) -> GuardedResponse:
        """:meth:`chat` (``supplied`` None) or :meth:`assess` (the answer given); ``eager``
        starts the samples with the answer even without ``eager_samples`` (streams).
        ``streamed``: ``supplied`` is guardrail's own streamed answer call (a ``live`` stream):
        it counts as one call of this chat, with the usage of the :class:`StreamedAnswer` it
        resolves to (``unmetered_calls`` when it has none)."""
        start = time.perf_counter()
        policy = self.policy_for(domain)
        msgs = normalize_messages(messages)
        provider = self.provider
        model_name = model or self.model or provider.default_model or "default"
        rid = request_id or uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout if self.timeout is not None else None
        with guard_span(
            self._tracer, domain=policy.name, policy=policy.name, model=model_name
        ) as span:
            run = _Run(
                policy=policy,
                provider=provider,
                model=model_name,
                messages=msgs,
                span=span,
                deadline=deadline,
                capture=capture_content_enabled(self.capture_content),
                max_tokens=max_tokens if max_tokens is not None else self.max_tokens,
                seed=seed,
                eager=eager or self.eager_samples,
            )
            # why the speculative calls still running at the end are cancelled: guardrail's
            # decision (not needed), or the host's (its task was cancelled: reported as is)
            why: str | None = CANCEL_NOT_NEEDED
            try:
                response = await self._guarded(
                    run, rid, stakes, context or {}, start, supplied, streamed
                )
            except (AuthenticationError, GuardError, ToolCallReply):
                raise  # ToolCallReply: passed through unevaluated (tracing: not a failure)
            except asyncio.CancelledError:
                # cancelled by guardrail itself (a live stream whose reply is a tool call)
                # or by the host (its task, a deadline, a client that went away)
                why = cancelled_by_guardrail(asyncio.current_task())
                raise
            except Exception as exc:  # the host app never sees an internal error
                record_error(span, exc)
                response = self._failed(run, rid, exc, start)
            finally:
                await _cancel_speculation(run, why)
                await _abandon(run, why)  # eager samples a failed chat did not use
            if self.decision_log is not None:
                response = await self._log_decision(run, response)
            end_guard_span(
                span,
                status=response.status,
                action=response.action.value if response.action is not None else None,
                calls=response.cost.calls,
                input_tokens=response.cost.input_tokens,
                output_tokens=response.cost.output_tokens,
                missing=[s.name for s in response.signals if s.status == "missing"],
                error=response.error,
                unused_calls=response.cost.unused_calls,
                unmetered_calls=response.cost.unmetered_calls,
            )
            self._metrics.decision(
                policy.name, response.action.value if response.action is not None else "failed"
            )
            return response

    # ------------------------------------------------------------------ the plan

    async def _call(
        self,
        run: _Run,
        purpose: str,
        messages: list[Message],
        *,
        provider: ChatProvider | None = None,
        model: str | None = None,
        n: int = 1,
        temperature: float | None = None,
        logprobs: bool = False,
        seed_offset: int = 0,
    ) -> ChatResult:
        """One provider call inside a GenAI span, bounded by the guard's deadline. The call's
        seed is the run's seed plus ``seed_offset`` (None when the run has no seed)."""
        prov = provider or run.provider
        model_name = model or run.model
        seed = run.seed + seed_offset if run.seed is not None else None
        with model_call_span(
            self._tracer,
            provider=prov.name,
            model=model_name,
            purpose=purpose,
            n=n,
            temperature=temperature,
            max_tokens=run.max_tokens,
            seed=seed,
            messages=messages,
            capture_content=run.capture,
            server=server_of(prov),
            metrics=self._metrics,
        ) as span:
            if purpose == "answer":
                run.answer_span = span.get_span_context()
            coro = prov.chat(
                messages,
                model=model_name,
                n=n,
                temperature=temperature,
                logprobs=logprobs,
                top_logprobs=1 if logprobs else None,
                seed=seed,
                max_tokens=run.max_tokens,
            )
            remaining = run.remaining()
            try:
                result = await _within(coro, remaining)
            except TimeoutError:
                run.timed_out = True
                run.calls += 1
                raise
            except ProviderError as exc:
                run.calls += exc.calls or 1
                raise
            record_result(span, result, capture_content=run.capture)
        run.calls += result.calls
        run.input_tokens += result.usage.input_tokens
        run.output_tokens += result.usage.output_tokens
        return result

    async def _guarded(
        self,
        run: _Run,
        request_id: str,
        stakes: str | None,
        context: Mapping[str, str],
        start: float,
        supplied: Choice | Awaitable[str | Choice | StreamedAnswer] | None = None,
        streamed: bool = False,
    ) -> GuardedResponse:
        policy = run.policy
        cfg = policy.signals
        needed = set(policy.needed_signals())
        profile = self._profile(policy) if "calibrated" in needed else None
        source = profile.source if profile is not None and not isinstance(profile, str) else None
        wanted = needed | ({source} if source else set())
        inline = (
            supplied is None  # an answer made elsewhere carries no requested confidence line
            and cfg.verbalized is not None
            and "verbalized" in wanted
            # plan latency asks a `verbalized followup` policy's question inline too: the
            # follow-up needs the answer's text, so it would be a second round trip
            and (cfg.verbalized.mode == "inline" or policy.plan == "latency")
        )
        inline_for_followup = (
            inline and cfg.verbalized is not None and (cfg.verbalized.mode == "followup")
        )
        want_logprobs = "logprob_confidence" in wanted

        # 0. plan latency: the samples do not depend on the answer's text, so they start now
        if (
            policy.plan == "latency"
            and cfg.samples is not None
            and wanted & {"consistency", "semantic_entropy"}
        ):
            k = cfg.samples.k
            if getattr(run.provider, "supports_n", None) is False:
                # a server without `n` (llama_cpp.server): one request per sample, so the ones
                # still queued or running can be cancelled once the action is settled
                run.speculative = [asyncio.create_task(self._sample_call(run, i)) for i in range(k)]
            else:
                # `n` (or not known yet): one request for all k, as in the other plans; it
                # arrives whole, so it is cancelled only when the samples are not needed at all
                run.speculative = [asyncio.create_task(self._sample_call(run, 0, n=k))]
        if policy.plan == "latency" and cfg.ensemble is not None and "agreement" in wanted:
            # the ensemble models answer the user's question, not the answer: start them too
            run.ensemble_tasks = [
                asyncio.create_task(self._ask_model(run, m)) for m in cfg.ensemble.models
            ]
        if (
            run.eager
            and policy.plan is None
            and cfg.samples is not None
            and wanted & {"consistency", "semantic_entropy"}
        ):
            # eager samples (guardrail serve): the one n=k call starts with the answer
            run.prefetched = asyncio.ensure_future(self._sample_call(run, 0, n=cfg.samples.k))

        # 1. the answer
        answer_msgs = (
            normalize_messages(inline_messages([m.model_dump() for m in run.messages]))
            if inline
            else run.messages
        )
        if supplied is not None:  # Guard.assess: the answer was made elsewhere
            if not isinstance(supplied, Choice):  # still being made: wait for it (deadline)
                remaining = run.remaining()
                try:
                    got = await _within(supplied, remaining)
                except TimeoutError as exc:
                    run.timed_out = True
                    _count_streamed(run, streamed, None)
                    return self._failed(run, request_id, exc, start)
                except Exception as exc:  # the source of the answer failed (a broken stream)
                    _count_streamed(run, streamed, None)
                    return self._failed(run, request_id, exc, start)
                if isinstance(got, StreamedAnswer):  # a live stream's answer, with its usage
                    _count_streamed(run, streamed, got)
                    run.answer_id = got.response_id
                    got = got.choice
                else:
                    _count_streamed(run, streamed, None)
                supplied = _as_choice(got)
                if not supplied.text.strip():
                    return self._failed(
                        run, request_id, ResponseFormatError("the answer is empty"), start
                    )
            result = ChatResult(provider="supplied", model=run.model, choices=[supplied], calls=0)
        else:
            try:
                result = await self._call(
                    run,
                    "answer",
                    answer_msgs,
                    temperature=self.temperature,
                    logprobs=want_logprobs,
                )
                if not result.choices:
                    raise ProviderError("the model returned no answer")
            except AuthenticationError:
                raise
            except (ProviderError, TimeoutError) as exc:
                return self._failed(run, request_id, exc, start)
            run.answer_id = result.response_id
        raw = result.choices[0].text
        answer = strip_confidence_line(raw, question=run.question) if inline else raw.strip()
        if not answer and inline_for_followup and "\n" in raw.strip():
            # the lines above the statement are themselves only a percentage ("100%"), which
            # the stripper reads as a second statement: show them, as the follow-up plan would,
            # and ask the confidence in the follow-up
            answer = raw.strip().rsplit("\n", 1)[0].strip()
            run.inline_missing = "the answer itself is only a percentage"
        if not answer:
            empty = ResponseFormatError(
                "the model returned an empty answer"
                + (f" (raw reply: {raw[:80]!r})" if raw.strip() else "")
            )
            return self._failed(run, request_id, empty, start)
        run.answer = answer

        # 2. free signals
        given: dict[str, SignalValue] = {"domain": policy.name}
        if stakes is not None:
            given["stakes"] = stakes
        for name, value in given.items():
            if name in wanted:
                run.add({name: (value, None, {})})
        for name in ("domain", "stakes"):
            if name in wanted and name not in run.values:
                run.missing([name], "not given by the application")
        # regex work over a long reply (up to the provider's byte cap) runs off the event loop
        run.add(
            await _offload(
                len(raw) + len(answer),
                free_signals,
                wanted,
                answer,
                raw,
                result.choices[0],
                inline=inline,
                policy=policy,
                question=run.question,
            )
        )

        if inline_for_followup:
            _inline_or_followup(run)

        # 3. cost-aware loop over the remaining signals
        await self._plan(run, wanted, profile)
        await _abandon(run, CANCEL_NOT_NEEDED)  # eager samples the plan did not need
        # plan latency: sample / ensemble requests the plan never needed (the answer alone
        # settled the action) are cancelled now, so the chat's cost counts them
        await _cancel_speculation(run, CANCEL_NOT_NEEDED)

        # 4. decide
        for name in sorted(needed - set(run.reports)):
            run.reports[name] = SignalReport(
                name=name, status="skipped", reason="could not change the action"
            )
        ctx = {"model": run.model, **context}
        decision = policy.evaluate(run.values, context=ctx)
        return await self._respond(run, decision, raw, request_id, start)

    async def _plan(
        self, run: _Run, wanted: set[str], profile: CalibrationProfile | str | None
    ) -> None:
        policy = run.policy
        while True:
            matter = policy.signals_that_matter(run.values)
            todo = sorted(matter - set(run.values), key=lambda s: (SIGNAL_TIERS.get(s, 9), s))
            if policy.plan == "cost":
                # samples first (waves, exact early stopping): a settled box often makes the
                # follow-up call pointless; measured on real replies in bench/bench_latency.py
                todo.sort(key=lambda s: s not in ("consistency", "semantic_entropy"))
            if not todo:
                return
            if run.timed_out or (run.remaining() is not None and run.remaining() == 0.0):
                run.missing(todo, f"guard timeout ({self.timeout} s) expired")
                return
            target = todo[0]
            if (
                policy.plan == "latency"
                and target == "verbalized"
                and ("consistency" in todo or "semantic_entropy" in todo)
            ):
                # the follow-up needs the answer, the samples are already running: overlap them
                await asyncio.gather(self._followup_verbalized(run), self._samples(run))
                continue
            if target == "calibrated":
                await self._calibrated(run, profile)
            elif target == "verbalized":
                await self._followup_verbalized(run)
            elif target in ("consistency", "semantic_entropy"):
                await self._samples(run)
            elif target == "agreement":
                await self._ensemble(run)
            else:
                run.missing([target], f"guardrail cannot compute signal {target!r} here")

    def _failure_reason(self, run: _Run, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            return f"guard timeout ({self.timeout} s) expired"
        return f"{type(exc).__name__}: {str(exc)[:500]}"

    def _strict_check(self, run: _Run, what: str, exc: BaseException) -> None:
        if self.strict:
            cls = (
                GuardTimeoutError
                if isinstance(exc, TimeoutError | asyncio.TimeoutError)
                else GuardError
            )
            raise cls(f"{what} failed: {self._failure_reason(run, exc)}") from exc

    async def _followup_verbalized(self, run: _Run) -> None:
        cfg = run.policy.signals.verbalized
        if cfg is None:
            run.missing(["verbalized"], "the policy's signals block has no `verbalized`")
            return
        msgs = normalize_messages(
            followup_messages([m.model_dump() for m in run.messages], run.answer)
        )
        calls_before = run.calls
        try:
            res = await self._call(run, "verbalized", msgs, temperature=0.0)
        except AuthenticationError:
            raise
        except (ProviderError, TimeoutError) as exc:
            self._strict_check(run, "verbalized follow-up", exc)
            run.missing(["verbalized"], self._failure_reason(run, exc))
            return
        out = verbalized_from_reply(res.text, mode="followup", question=run.question)
        if run.inline_missing is not None:  # plan latency: the inline statement was missing
            value, reason, detail = out["verbalized"]
            out["verbalized"] = (value, reason, {**detail, "inline_missing": run.inline_missing})
        run.add(out, calls=run.calls - calls_before)

    async def _sample_call(self, run: _Run, index: int, n: int = 1) -> ChatResult:
        """Samples ``index .. index + n - 1`` of the policy's k (seeds seed+1+index ...)."""
        cfg = run.policy.signals.samples
        assert cfg is not None
        return await self._call(
            run,
            "consistency",
            run.messages,
            n=n,
            temperature=cfg.temperature,
            seed_offset=1 + index,
        )

    async def _samples(self, run: _Run) -> None:
        cfg = run.policy.signals.samples
        if cfg is None:
            run.missing(["consistency", "semantic_entropy"], "the policy has no `samples` entry")
            return
        if run.policy.plan is not None:
            await self._planned_samples(run, cfg.k)
            return
        calls_before = run.calls
        try:
            if run.prefetched is not None:  # started with the answer (eager_samples)
                task, run.prefetched = run.prefetched, None
                res = await task
                calls_before = run.calls - res.calls
            else:
                res = await self._sample_call(run, 0, n=cfg.k)
        except AuthenticationError:
            raise
        except (ProviderError, TimeoutError) as exc:
            self._strict_check(run, "sampling", exc)
            run.missing(["consistency", "semantic_entropy"], self._failure_reason(run, exc))
            return
        if res.failed and self.strict:
            raise GuardError(f"{res.failed} of {cfg.k} samples failed: {res.errors[0]}")
        texts = [c.text.strip() for c in res.choices]
        backend = self._equivalence(run, cfg.equivalence, cfg.equivalence_model)
        sim = await self._precompute(backend, [run.answer, *texts])
        run.add(
            await _offload(
                len(run.answer) + sum(map(len, texts)),
                consistency_from_samples,
                run.answer,
                texts,
                requested=cfg.k,
                errors=res.errors,
                similarity=sim,
                backend=backend,
                question=run.question,
            ),
            calls=run.calls - calls_before,
        )

    async def _planned_samples(self, run: _Run, k: int) -> None:
        """``plan latency``/``plan cost`` sampling with exact early stopping
        (:mod:`guardrail.sdk.sample_plan`): sample ``i`` is always drawn with seed
        ``seed + 1 + i``, the stop test looks at the drawn prefix in index order only."""
        cfg = run.policy.signals.samples
        assert cfg is not None
        backend = self._equivalence(run, cfg.equivalence, cfg.equivalence_model)
        # the stop test reuses the very similarity the final value is computed with
        from guardrail.signals.answers import AnswerSimilarity

        lexical = backend if isinstance(backend, AnswerSimilarity) else None
        exact = lexical is not None
        got: list[str | BaseException | None] = [None] * k
        calls_before = run.calls
        stop: tuple[Action, SampleState] | None = None
        waves: list[int] = []

        def prefix() -> int:
            m = 0
            while m < k and got[m] is not None:
                m += 1
            return m

        def check(m: int) -> tuple[Action, SampleState] | None:
            if not exact or m == k or m == 0:
                return None
            texts, errors = _texts(got[:m])
            out = consistency_from_samples(
                run.answer,
                texts,
                requested=m,
                errors=errors,
                similarity=lexical,
                question=run.question,
            )
            value, _, detail = out["consistency"]
            if value is None:
                return None  # no usable sample yet: consistency itself may end up missing
            state = SampleState(k=k, m=m, a=int(detail["agreeing"]))
            action = settled(run.policy, run.values, state)
            return None if action is None else (action, state)

        if run.speculative is not None:  # plan latency: consume the calls already running
            tasks = run.speculative
            width = k // len(tasks)  # k tasks of one sample, or one task of k
            index = {t: i * width for i, t in enumerate(tasks)}
            pending: set[asyncio.Task[ChatResult]] = set(tasks)
            seen = 0
            while pending and stop is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    got[index[t] : index[t] + width] = _outcome(t, width)
                m = prefix()
                if m > seen:
                    seen = m
                    stop = check(m)
            # stopped early: the rest is not worth its tokens (nor are the ensemble models':
            # the action is settled whatever the other signals turn out to be)
            used_up_to = k if stop is None else stop[1].m
            await _cancel_tasks(
                run, tasks, CANCEL_STOPPED_EARLY, used={t for t in tasks if index[t] < used_up_to}
            )
            if stop is not None:
                await _cancel_tasks(run, run.ensemble_tasks or [], CANCEL_STOPPED_EARLY)
            waves = [k]
            calls_before = run.calls - sum(_calls_of(t) for t in tasks)
        else:  # plan cost: waves, never sending one that cannot change the action
            m = 0
            while m < k and stop is None:
                d = k - m
                if exact:
                    state = SampleState(k, m, _agreeing(run, got[:m], lexical))
                    d = next_wave(run.policy, run.values, state)
                waves.append(d)
                try:
                    res = await self._sample_call(run, m, n=d)
                    texts = [c.text for c in res.choices]
                    wave: list[str | BaseException] = [*texts]
                    wave += [ProviderError(e) for e in res.errors][: d - len(wave)]
                    wave += [ProviderError("no sample returned")] * (d - len(wave))
                except AuthenticationError:
                    raise
                except (ProviderError, TimeoutError) as exc:
                    self._strict_check(run, "sampling", exc)
                    wave = [exc] * d
                got[m : m + d] = wave
                m += d
                stop = check(m)
        drawn = prefix() if stop is None else stop[1].m
        texts, errors = _texts(got[:drawn])
        if any(isinstance(e, AuthenticationError) for e in got[:drawn]):
            raise next(e for e in got[:drawn] if isinstance(e, AuthenticationError))
        if errors and self.strict:
            raise GuardError(f"{len(errors)} of {drawn} samples failed: {errors[0]}")
        if not any(texts):
            why = "no usable sample" + (f" ({len(errors)} failed: {errors[0]})" if errors else "")
            run.missing(["consistency", "semantic_entropy"], why)
            return
        sim = await self._precompute(backend, [run.answer, *texts])
        out = await _offload(
            len(run.answer) + sum(map(len, texts)),
            consistency_from_samples,
            run.answer,
            texts,
            requested=drawn if stop is not None else k,
            errors=errors,
            similarity=sim,
            backend=backend,
            question=run.question,
        )
        value, note, detail = out["consistency"]
        reason: str | None = note
        detail = {
            **detail,
            "plan": run.policy.plan,
            "k_planned": k,
            "drawn": drawn,
            "waves": waves,
        }
        if stop is not None:
            action, state = stop
            lo, hi = consistency_box(state)
            detail["stopped_early"] = {"action": action.value, "bounds": [lo, hi]}
            reason = (
                f"stopped after {drawn} of {k} samples: every consistency in "
                f"[{lo:.3g}, {hi:.3g}] gives {action.value}"
            )
        out["consistency"] = (value, reason, detail)
        run.add(out, calls=run.calls - calls_before)

    def _equivalence(self, run: _Run, name: str, model: str | None) -> Similarity | AsyncSimilarity:
        """The policy's answer-equivalence backend for this chat, with its model call bound to
        the answering model (or the backend's ``model``, through ``ensemble_providers`` when it
        is listed there): an embedding request or a judge chat call (temperature 0) that counts
        in the chat's cost and obeys its deadline."""
        from guardrail.signals.equivalence import get_equivalence

        if name == "lexical":
            return get_equivalence("lexical", question=run.question)
        prov = self.ensemble_providers.get(model, run.provider) if model else run.provider
        model_name = model or run.model

        async def judge(messages: list[dict[str, str]]) -> str:
            res = await self._call(
                run,
                "equivalence",
                normalize_messages(messages),
                provider=prov,
                model=model_name,
                temperature=0.0,
            )
            return res.text

        async def embed(texts: list[str]) -> list[list[float]]:
            method = getattr(prov, "embed", None)
            if method is None:
                raise BadRequestError(f"provider {prov.name!r} cannot embed texts")
            remaining = run.remaining()
            try:
                coro = method(texts, model=model_name)
                vectors: list[list[float]] = await _within(coro, remaining)
            except TimeoutError:
                run.timed_out = True
                run.calls += 1
                raise
            except ProviderError as exc:
                run.calls += exc.calls or 1
                raise
            run.calls += 1
            return vectors

        if name == "embedding":
            return get_equivalence("embedding", embed=embed, question=run.question)
        return get_equivalence("entailment", judge=judge, question=run.question)

    async def _precompute(
        self, backend: Similarity | AsyncSimilarity, texts: list[str]
    ) -> Similarity:
        """Await a model-backed backend once over ``texts``; re-raise an authentication error
        its call hit (misconfiguration is never degraded); strict mode raises on a fallback."""
        sim = await equivalence_for(backend, [t for t in texts if t.strip()])
        stats = getattr(backend, "stats", None)
        exc = getattr(stats, "last_exception", None)
        if isinstance(exc, AuthenticationError):
            raise exc
        fallbacks = int(getattr(stats, "fallbacks", 0))
        if self.strict and fallbacks:
            errors = list(getattr(stats, "errors", []))
            raise GuardError(f"{backend.name} equivalence failed: {errors[0] if errors else ''}")
        return sim

    async def _ask_model(self, run: _Run, m: str) -> ChatResult:
        prov = self.ensemble_providers.get(m, run.provider)
        return await self._call(run, "agreement", run.messages, provider=prov, model=m)

    async def _ensemble(self, run: _Run) -> None:
        cfg = run.policy.signals.ensemble
        if cfg is None or not cfg.models:
            run.missing(["agreement"], "the policy has no `ensemble` entry")
            return
        calls_before = run.calls
        models = list(cfg.models)
        weights = dict(zip(cfg.models, cfg.weights, strict=True)) if cfg.weights else None
        backend = self._equivalence(run, cfg.equivalence, cfg.equivalence_model)
        from guardrail.signals.answers import AnswerSimilarity

        # exact early stopping (plans only, lexical backend: see sample_plan.agreement_box)
        lexical = backend if isinstance(backend, AnswerSimilarity) else None
        exact = lexical is not None and run.policy.plan is not None
        got: list[ChatResult | BaseException | None] = [None] * len(models)
        stop: tuple[Action, EnsembleState, int] | None = None
        waves: list[int] = []

        def collect(m: int) -> tuple[dict[str, str | None], dict[str, str]]:
            answers: dict[str, str | None] = {}
            errors: dict[str, str] = {}
            for name, r in zip(models[:m], got[:m], strict=True):
                if isinstance(r, AuthenticationError):
                    raise r
                if isinstance(r, BaseException):
                    if not isinstance(r, ProviderError | TimeoutError | asyncio.TimeoutError):
                        raise r
                    self._strict_check(run, f"ensemble model {name}", r)
                    answers[name] = None
                    errors[name] = self._failure_reason(run, r)
                else:
                    assert r is not None
                    answers[name] = r.text.strip()
            return answers, errors

        def prefix_weights(m: int) -> dict[str, float] | None:
            return {k: weights[k] for k in models[:m]} if weights else None

        def state_of(m: int) -> EnsembleState | None:
            """The box state after the first m models; None while no model answered."""
            answers, _ = collect(m)
            return ensemble_state(
                run.model,
                run.answer,
                models,
                cfg.weights or None,
                [answers[k] for k in models[:m]],
                similarity=lexical,
                question=run.question,
            )

        def check(m: int) -> tuple[Action, EnsembleState, int] | None:
            if not exact or m in (0, len(models)):
                return None
            state = state_of(m)
            if state is None:
                return None
            action = agreement_settled(run.policy, run.values, state)
            return None if action is None else (action, state, m)

        def prefix() -> int:
            m = 0
            while m < len(models) and got[m] is not None:
                m += 1
            return m

        if run.ensemble_tasks is not None:  # plan latency: started with the answer
            tasks = run.ensemble_tasks
            index = {t: i for i, t in enumerate(tasks)}
            pending: set[asyncio.Task[ChatResult]] = set(tasks)
            seen = 0
            while pending and stop is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    exc = t.exception()
                    got[index[t]] = exc if exc is not None else t.result()
                m = prefix()
                if m > seen:
                    seen = m
                    stop = check(m)
            used_up_to = len(models) if stop is None else stop[2]
            await _cancel_tasks(
                run, tasks, CANCEL_STOPPED_EARLY, used={t for t in tasks if index[t] < used_up_to}
            )
            waves = [len(models)]
            calls_before = run.calls - sum(_calls_of(t) for t in tasks)
        elif run.policy.plan == "cost" and exact:  # waves in policy order
            m = 0
            while m < len(models) and stop is None:
                state = state_of(m)
                d = len(models) - m
                if state is not None:
                    d = next_ensemble_wave(run.policy, run.values, state)
                waves.append(d)
                res = await asyncio.gather(
                    *(self._ask_model(run, k) for k in models[m : m + d]),
                    return_exceptions=True,
                )
                got[m : m + d] = list(res)
                m += d
                stop = check(m)
        else:
            res = await asyncio.gather(
                *(self._ask_model(run, k) for k in models), return_exceptions=True
            )
            got = list(res)
        asked = len(models) if stop is None else stop[2]
        answers, errors = collect(asked)
        sim = await self._precompute(backend, [run.answer, *(a for a in answers.values() if a)])
        out = agreement_with_answer(
            run.model,
            run.answer,
            answers,
            weights=prefix_weights(asked),
            errors=errors,
            similarity=sim,
            backend=backend,
            question=run.question,
        )
        if run.policy.plan is not None:
            value, reason, detail = out["agreement"]
            detail = {
                **detail,
                "plan": run.policy.plan,
                "models_planned": len(models),
                "asked": asked,
                "waves": waves,
            }
            if stop is not None:
                action, state, _ = stop
                lo, hi = agreement_box(state)
                detail["stopped_early"] = {"action": action.value, "bounds": [lo, hi]}
                reason = (
                    f"stopped after {asked} of {len(models)} models: every agreement in "
                    f"[{lo:.3g}, {hi:.3g}] gives {action.value}"
                )
            out["agreement"] = (value, reason, detail)
        run.add(out, calls=run.calls - calls_before)

    async def _calibrated(self, run: _Run, profile: CalibrationProfile | str | None) -> None:
        if profile is None:
            run.missing(["calibrated"], "the policy names no calibration profile")
            return
        if isinstance(profile, str):
            run.missing(["calibrated"], profile)
            return
        source = profile.source
        if source not in run.values:
            if source == "verbalized":
                await self._followup_verbalized(run)
            elif source in ("consistency", "semantic_entropy"):
                await self._samples(run)
            elif source == "agreement":
                await self._ensemble(run)
        raw = run.values.get(source)
        if raw is None or not isinstance(raw, int | float):
            run.missing(["calibrated"], f"its source signal {source!r} is missing")
            return
        value = float(profile.calibrate(float(raw)))
        run.add({"calibrated": (value, None, {"source": source, "raw": float(raw)})})

    async def _log_decision(self, run: _Run, response: GuardedResponse) -> GuardedResponse:
        """Write the call's :class:`~guardrail.decisions.DecisionRecord`; a failing sink is
        reported on the span and in ``response.error`` (strict mode: ``GuardError``)."""
        assert self.decision_log is not None
        content: dict[str, str | None] = {"question": None, "answer": None}
        store = self.review_store
        if run.capture and getattr(store, "store_content", True):
            redact = getattr(store, "redact", None)
            for key, text in (("question", run.question), ("answer", response.answer)):
                if text is not None:
                    text = clean_text(text)
                    content[key] = redact(text) if redact is not None else text
        record = DecisionRecord(
            request_id=response.request_id,
            time=now_utc(),
            domain=response.domain,
            policy=response.policy,
            policy_version=self._policy_version(run.policy),
            status=response.status,
            action=response.action.value if response.action is not None else None,
            matched=[m.rule for m in response.decision.matched] if response.decision else [],
            values=response.values,
            missing=[s.name for s in response.signals if s.status == "missing"],
            skipped=[s.name for s in response.signals if s.status == "skipped"],
            model=response.model,
            # the record's documented cost keys (docs/architecture.md); the unused / unmetered
            # call counts stay on the response, its span and the verdict
            cost=response.cost.model_dump(include=_LOGGED_COST),
            **content,
        )
        try:
            await asyncio.to_thread(self.decision_log.write, record)
        except Exception as exc:
            self._strict_check(run, "writing the decision log", exc)
            record_error(run.span, exc)
            note = f"decision log failed: {self._failure_reason(run, exc)}"
            error = f"{response.error}; {note}" if response.error else note
            return response.model_copy(update={"error": error})
        return response

    def _policy_version(self, policy: Policy) -> str | None:
        """First 12 hex digits of the SHA-256 of the policy file (None when not from a file)."""
        if policy.name not in self._versions:
            version = None
            if policy.source_file:
                try:
                    data = Path(policy.source_file).read_bytes()
                except OSError:
                    data = None
                if data is not None:
                    version = hashlib.sha256(data).hexdigest()[:12]
            self._versions[policy.name] = version
        return self._versions[policy.name]

    def _profile(self, policy: Policy) -> CalibrationProfile | str | None:
        """The policy's calibration profile (loaded once), the reason it cannot be loaded (the
        file changed or vanished after ``guardrail check``), or None when it names none."""
        if policy.calibration is None:
            return None
        path = Path(policy.calibration)
        if path not in self._profiles:
            from guardrail.calibration import CalibrationProfile

            try:
                self._profiles[path] = CalibrationProfile.load(path)
            except (OSError, ValueError) as exc:
                self._profiles[path] = f"calibration profile unusable: {exc}"
        return self._profiles[path]

    # ------------------------------------------------------------------ results

    def _cost(self, run: _Run, start: float) -> Cost:
        return Cost(
            calls=run.calls,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            latency_s=time.perf_counter() - start,
            unused_calls=min(run.unused_calls, run.calls),
            unmetered_calls=run.unmetered_calls,
        )

    def _failed(
        self, run: _Run, request_id: str, exc: BaseException, start: float
    ) -> GuardedResponse:
        self._strict_check(run, "the answer call", exc)
        reason = self._failure_reason(run, exc)
        emit_evaluation(
            run.span,
            "guardrail.decision",
            explanation=reason,
            response_id=run.answer_id,
            logger=self._event_logger,
            parent=run.answer_span,
            error_type=error_type_of(reason),
        )
        return GuardedResponse(
            status="failed",
            text=self.failure_message,
            cost=self._cost(run, start),
            domain=run.policy.name,
            policy=run.policy.name,
            model=run.model,
            provider=run.provider.name,
            request_id=request_id,
            error=reason,
        )

    async def _respond(
        self, run: _Run, decision: Decision, raw: str, request_id: str, start: float
    ) -> GuardedResponse:
        answer = run.answer
        notices = list(decision.notices)
        with_notice = (
            self.notice_format.format(answer=answer, notice="\n".join(notices))
            if notices
            else answer
        )
        review_id: str | None = None
        spot_id: str | None = None
        store_error: str | None = None
        action = decision.action
        if action is Action.ABSTAIN:
            status, text = "abstained", decision.message or DEFAULT_ABSTAIN_MESSAGE
        elif action is Action.REVIEW:
            status = "pending_review"
            review_msg = decision.message or DEFAULT_REVIEW_MESSAGE
            text = review_msg if self.hold_reviews else f"{with_notice}\n\n{review_msg}".strip()
            try:
                review_id = await self._enqueue(
                    run, decision, raw, request_id, text, ReviewReason.REVIEW, 1.0
                )
            except Exception as exc:
                self._strict_check(run, "queueing the answer for review", exc)
                record_error(run.span, exc)
                if self.hold_reviews:  # nobody will review it: never show it
                    status, text = "failed", self.failure_message
                    store_error = (
                        f"review store failed, the held answer was not shown: "
                        f"{self._failure_reason(run, exc)}"
                    )
                else:  # it was going to be shown anyway; without the "waiting for review" line
                    status, text = "answered", with_notice
                    store_error = (
                        f"review store failed, the answer was shown unreviewed: "
                        f"{self._failure_reason(run, exc)}"
                    )
        else:
            status, text = "answered", with_notice
        if self.spot_check is not None and action is not Action.REVIEW:
            rate = self.spot_check.pick(request_id, domain=run.policy.name, decision=action.value)
            if rate is not None:
                try:
                    spot_id = await self._enqueue(
                        run, decision, raw, request_id, text, ReviewReason.SPOT_CHECK, rate
                    )
                except Exception as exc:
                    self._strict_check(run, "queueing the spot check", exc)
                    record_error(run.span, exc)
                    store_error = (
                        f"review store failed, the spot check was not queued: "
                        f"{self._failure_reason(run, exc)}"
                    )
        answer_shown = status == "answered" or (
            status == "pending_review" and not self.hold_reviews
        )
        if run.timed_out:
            timeout_note = f"guard timeout ({self.timeout} s) expired"
            store_error = f"{timeout_note}; {store_error}" if store_error else timeout_note
        reports = [
            run.reports[k] for k in sorted(run.reports, key=lambda s: (SIGNAL_TIERS.get(s, 9), s))
        ]
        for rep in reports:
            if rep.status == "skipped":  # never evaluated: it could not change the action
                continue
            num = float(rep.value) if isinstance(rep.value, int | float) else None
            emit_evaluation(
                run.span,
                rep.name,
                score_value=num,
                score_label=_verdict_of(decision, rep.name),
                explanation=rep.reason or (rep.value if isinstance(rep.value, str) else None),
                response_id=run.answer_id,
                logger=self._event_logger,
                parent=run.answer_span,
                error_type=error_type_of(rep.reason) if rep.status == "missing" else None,
            )
        emit_evaluation(
            run.span,
            "guardrail.decision",
            score_label=action.value,
            explanation=_decision_summary(decision),
            response_id=run.answer_id,
            logger=self._event_logger,
            parent=run.answer_span,
        )
        values = {k: v for k, v in run.values.items() if v is not None}
        return GuardedResponse(
            status=status,  # type: ignore[arg-type]
            text=text,
            answer=answer,
            raw_answer=raw,
            notices=notices if answer_shown else [],
            action=action,
            decision=decision,
            signals=reports,
            values=values,
            cost=self._cost(run, start),
            review_id=review_id,
            spot_check_id=spot_id,
            domain=run.policy.name,
            policy=run.policy.name,
            model=run.model,
            provider=run.provider.name,
            request_id=request_id,
            error=store_error,
        )

    async def _enqueue(
        self,
        run: _Run,
        decision: Decision,
        raw: str,
        request_id: str,
        shown: str,
        reason: ReviewReason,
        rate: float,
    ) -> str:
        question = run.question
        # NUL / lone surrogates (from the user's messages or the reply) would make SQLite's and
        # PostgreSQL's encoders raise: stored as U+FFFD (guardrail._safety.clean_text)
        item = ReviewItem(
            request_id=clean_text(request_id),
            domain=run.policy.name,
            policy_name=run.policy.name,
            policy_version=self._policy_version(run.policy),
            question=clean_text(question) if question is not None else None,
            answer_shown=clean_text(shown),
            raw_answer=clean_text(raw),
            decision=decision.action.value,
            signals={k: clean_text(v) if isinstance(v, str) else v for k, v in run.values.items()},
            explanation=[clean_text(line) for line in decision.explain().splitlines()],
            reason=reason,
            sampling_rate=rate,
        )
        queued = asyncio.to_thread(self.review_store.enqueue, item)
        remaining = run.remaining()
        if remaining is None:
            return await queued
        # a locked store (another process holding the write lock) must not stretch the chat past
        # its deadline: the store gets what is left, plus STORE_GRACE seconds
        try:
            return await _within(queued, remaining + STORE_GRACE)
        except TimeoutError:
            raise ReviewStoreTimeout(
                f"the review store did not confirm within the guard timeout "
                f"({self.timeout} s + {STORE_GRACE} s); the item may still be stored"
            ) from None


#: Texts longer than this (characters, summed over the inputs of one signal step) are analysed in a
#: worker thread so the event loop keeps serving other chats; shorter ones (well under a
#: millisecond of regex work) run inline, where a thread hop would cost more than the work.
OFFLOAD_CHARS = 8192

_T = TypeVar("_T")

#: The ``cost`` keys of a decision-log record (``DecisionRecord.cost``).
_LOGGED_COST = {"calls", "input_tokens", "output_tokens", "latency_s"}


async def _within(aw: Awaitable[_T], remaining: float | None) -> _T:
    """``await aw``, raising ``TimeoutError`` after ``remaining`` seconds (None: no bound).

    ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for`` returns the
    result when a cancellation of the awaiting task arrives in the same loop step as the result,
    dropping the cancellation (a host that cancels ``Guard.chat`` as the answer arrives would
    see the guard run on to its deadline; tests/sdk/test_cancel_spans.py)."""
    if remaining is None:
        return await aw
    async with asyncio.timeout(remaining):
        return await aw


async def _offload(size: int, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    if size > OFFLOAD_CHARS:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


def _outcome(task: asyncio.Task[ChatResult], n: int) -> list[str | BaseException]:
    """A finished call for ``n`` samples: their texts, or the exception each ended with."""
    exc = task.exception()
    if exc is not None:
        return [exc] * n
    res = task.result()
    out: list[str | BaseException] = [c.text for c in res.choices[:n]]
    out += [ProviderError(e) for e in res.errors][: n - len(out)]
    out += [ProviderError("no sample returned")] * (n - len(out))
    return out


def _texts(got: list[str | BaseException | None]) -> tuple[list[str], list[str]]:
    """Sample texts (a failed sample is an empty text: it agrees with nothing) and the errors."""
    texts: list[str] = []
    errors: list[str] = []
    for g in got:
        if isinstance(g, str):
            texts.append(g.strip())
        else:
            texts.append("")
            errors.append(f"{type(g).__name__}: {str(g)[:200]}")
    return texts, errors


def _agreeing(
    run: _Run, got: list[str | BaseException | None], similarity: Similarity | None
) -> int:
    """How many of the drawn samples count as agreeing with the shown answer."""
    if not got:
        return 0
    texts, errors = _texts(got)
    out = consistency_from_samples(
        run.answer,
        texts,
        requested=len(got),
        errors=errors,
        similarity=similarity,
        question=run.question,
    )
    value, _, detail = out["consistency"]
    return 0 if value is None else int(detail["agreeing"])


def _calls_of(task: asyncio.Task[ChatResult]) -> int:
    """Model calls one speculative sample task made (a cancelled one: its request was sent)."""
    if not task.done() or task.cancelled():
        return 1
    exc = task.exception()
    if exc is None:
        return task.result().calls
    return (exc.calls or 1) if isinstance(exc, ProviderError) else 1


async def _cancel_speculation(run: _Run, why: str | None = CANCEL_NOT_NEEDED) -> None:
    """Cancel the speculative sample and ensemble calls still running (their tokens are not
    spent further) and wait for them; a call that was sent counts in the chat's cost either
    way, and the calls of tasks no signal consumed count as unused. ``why``: guardrail's reason
    (their spans end without error, :func:`guardrail.tracing.cancel_by_guardrail`); None when
    the host cancelled the chat (the spans report the ``CancelledError``)."""
    await _cancel_tasks(run, run.speculative or [], why)
    await _cancel_tasks(run, run.ensemble_tasks or [], why)


async def _cancel_tasks(
    run: _Run,
    tasks: list[asyncio.Task[ChatResult]],
    why: str | None,
    used: Collection[asyncio.Task[ChatResult]] = (),
) -> None:
    """Cancel ``tasks`` still running (``why`` as in :func:`_cancel_speculation`), count the
    cancelled requests as calls, and sort every task's calls once into used (``used``: the
    tasks whose replies a signal read) or unused."""
    running = [t for t in tasks if not t.done()]
    for t in running:
        if why is None:
            t.cancel()
        else:
            cancel_by_guardrail(t, why)
    if running:
        await asyncio.gather(*running, return_exceptions=True)
        # a request that was cancelled was sent: one call. One that finished anyway (its reply
        # arrived as the cancel did: asyncio.wait_for then returns the result) or failed was
        # already counted by `_call` (counting it here too made plan latency report more
        # calls than it started)
        run.calls += sum(1 for t in running if t.cancelled())
    for t in tasks:
        if t not in run.accounted:
            run.accounted.add(t)
            if t not in used:
                run.unused_calls += _calls_of(t)
        if t.done() and not t.cancelled():  # retrieved, so asyncio never logs "never retrieved"
            t.exception()


@dataclass(frozen=True)
class StreamedAnswer:
    """A ``live`` stream's complete answer, as the stream relay hands it to the assessment
    (``guardrail.sdk.streaming``): the answer, the token usage the upstream reported for the
    streamed call (``None``: no usage chunk) and its ``gen_ai.response.id``."""

    choice: Choice
    usage: Usage | None = None
    response_id: str | None = None


def _count_streamed(run: _Run, streamed: bool, result: StreamedAnswer | None) -> None:
    """Count a ``live`` stream's answer call in the chat's cost: one call, with its reported
    usage; without one (the upstream sent no usage chunk, or the stream broke) it is
    *unmetered*: its tokens are not in the totals."""
    if not streamed:
        return
    run.calls += 1
    usage = result.usage if result is not None else None
    if usage is None:
        run.unmetered_calls += 1
        return
    run.input_tokens += usage.input_tokens
    run.output_tokens += usage.output_tokens


def _as_choice(answer: str | Choice) -> Choice:
    return answer if isinstance(answer, Choice) else Choice(index=0, text=str(answer))


def _retrieve(task: asyncio.Task[ChatResult]) -> None:
    """Mark an abandoned task's exception as retrieved (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


def _inline_or_followup(run: _Run) -> None:
    """``plan latency`` with ``verbalized followup``: the confidence was asked inline in the
    answer call. A readable statement is the signal (detail ``elicited: "inline"``); a missing
    one is dropped again so the plan asks the follow-up question after all (only if a rule
    still needs it), and the follow-up's detail keeps the inline reason."""
    rep = run.reports.get("verbalized")
    if rep is None:
        return
    if rep.value is not None and run.inline_missing is None:
        run.reports["verbalized"] = rep.model_copy(
            update={"detail": {**rep.detail, "elicited": "inline (plan latency)"}}
        )
        return
    if run.inline_missing is None:
        run.inline_missing = rep.reason or "no confidence statement"
    del run.reports["verbalized"]
    run.values.pop("verbalized", None)


async def _abandon(run: _Run, why: str | None = CANCEL_NOT_NEEDED) -> None:
    """Cancel eager samples that were not used (``why`` as in :func:`_cancel_speculation`) and
    wait until the cancellation has run (no task of the chat outlives it: its HTTP request is
    closed now, not whenever the loop next gets to it, and a loop closed right after the chat
    finds nothing half-done). A call still in flight counts as one call (the request was sent;
    its tokens are unknown); one that finished, even while being cancelled, was counted by
    ``_call``. Either way its calls are unused."""
    task, run.prefetched = run.prefetched, None
    if task is None:
        return
    if not task.done():
        if why is None:
            task.cancel()
        else:
            cancel_by_guardrail(task, why)
        await asyncio.wait([task])  # never raises; the caller's own cancellation still does
    if task.cancelled():
        run.calls += 1
    run.unused_calls += _calls_of(task)
    _retrieve(task)


def _verdict_of(decision: Decision, signal: str) -> str:
    """The policy's verdict on one signal: the action of the first matched rule that read it
    (its value or its absence), ``pass`` when no rule fired on it."""
    for m in decision.matched:
        if signal in m.values or signal in m.missing:
            return m.action.value
    return Action.PASS.value


def _decision_summary(decision: Decision) -> str:
    parts = []
    for m in decision.matched:
        if m.missing:
            parts.append(f"{m.rule} -> {m.action.value} (missing {', '.join(m.missing)})")
        else:
            vals = ", ".join(f"{k}={v}" for k, v in m.values.items())
            parts.append(f"{m.rule} -> {m.action.value} ({vals})")
    if decision.otherwise_applied:
        parts.append(f"otherwise -> {decision.action.value}")
    return "; ".join(parts) or "no rule matched"

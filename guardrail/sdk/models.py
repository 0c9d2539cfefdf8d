"""Public result models of the SDK: :class:`GuardedResponse` and its parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from guardrail.policy import Action, Decision

__all__ = [
    "Cost",
    "GuardStatus",
    "GuardedResponse",
    "SignalReport",
    "SignalStatus",
    "StreamEvent",
    "StreamMode",
]

StreamMode = Literal["hold", "live"]
GuardStatus = Literal["answered", "abstained", "pending_review", "failed"]
SignalStatus = Literal["computed", "missing", "skipped"]


class Cost(BaseModel):
    """What a guarded chat cost.

    Attributes:
        calls: model calls made (HTTP requests or local generations, retries included): every
            request *started*, the ones guardrail cancelled or did not use included (they
            were sent, and may be billed). A ``live`` stream's answer call is one of them.
        input_tokens: prompt tokens summed over all calls (as the servers reported them).
        output_tokens: completion tokens summed over all calls.
        latency_s: wall-clock seconds of the whole guarded chat.
        unused_calls: of ``calls``, the speculative requests whose reply no signal used:
            ``plan latency`` sample / ensemble requests cancelled once the action was settled
            (or never needed), replies that arrived after the stop, eager samples the plan did
            not need. ``calls - unused_calls`` is the number of requests whose reply was used
            (the answer, follow-ups, the samples and models the decision read). ``0 <=
            unused_calls <= calls``.
        unmetered_calls: of ``calls``, the ones whose token usage the server did not report
            (a ``live`` stream's answer when the upstream sends no usage chunk for
            ``stream_options.include_usage``): their tokens are **not** in ``input_tokens`` /
            ``output_tokens``, which are then a lower bound.
    """

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    unused_calls: int = 0
    unmetered_calls: int = 0


class SignalReport(BaseModel):
    """One signal of the plan: its value, or why it has none.

    Attributes:
        name: DSL name (``verbalized``, ``consistency``, ``agreement``, ``hedges``, ...).
        status: ``computed`` (``value`` set), ``missing`` (needed but could not be computed:
            ``reason`` says why; the decision applied the policy's ``on_missing``), or ``skipped``
            (not computed because no value it could take would change the action: cost-aware
            evaluation).
        value: float in [0, 1] for confidences, int for counts, str for labels, else ``None``.
        reason: why the value is missing, or a note.
        calls: model calls spent on this signal (0 for local/free signals).
        detail: JSON-serialisable evidence from :mod:`guardrail.signals` (clusters, parsed text).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    status: SignalStatus
    value: float | int | str | None = None
    reason: str | None = None
    calls: int = 0
    detail: dict[str, Any] = Field(default_factory=dict)


class GuardedResponse(BaseModel):
    """The result of one guarded chat.

    Attributes:
        status: ``answered`` (action pass or notice), ``abstained`` (the policy's abstention
            message replaces the answer), ``pending_review`` (the answer is held for a human
            reviewer; ``review_id`` names the queue item), or ``failed`` (the model could not
            produce an answer; ``error`` says why; only without strict mode).
        text: what to show the end user: the answer with its verbalized-confidence line stripped
            and the notice(s) attached (``answered``), the abstention message (``abstained``), the
            review message (``pending_review``), or the failure message (``failed``).
        answer: the answer with the confidence line stripped, before any notice ("" if none).
        raw_answer: the model's reply exactly as received ("" if none).
        notices: notice messages attached to ``text``, in rule order.
        action: the decision's action (``None`` only when ``status == "failed"``).
        decision: the policy's :class:`~guardrail.policy.Decision` (matched rules with the values
            that made them true, notices, missing signals); ``None`` when ``failed``.
        signals: one :class:`SignalReport` per signal of the policy's plan.
        values: DSL name -> value of every computed signal (what the policy was evaluated on).
        cost: calls, tokens and latency of everything the guard did.
        review_id: id of the review-queue item (``pending_review``), else ``None``.
        spot_check_id: id of the spot-check queue item when this answer was sampled for review.
        domain, policy, model, provider: what was guarded and with what.
        request_id: the id the guard used (given by the app or generated).
        error: ``"ErrorType: message"`` when ``failed`` (or a note about a guard timeout).
    """

    model_config = ConfigDict(frozen=True)

    status: GuardStatus
    text: str
    answer: str = ""
    raw_answer: str = ""
    notices: list[str] = Field(default_factory=list)
    action: Action | None = None
    decision: Decision | None = None
    signals: list[SignalReport] = Field(default_factory=list)
    values: dict[str, float | int | str] = Field(default_factory=dict)
    cost: Cost = Field(default_factory=Cost)
    review_id: str | None = None
    spot_check_id: str | None = None
    domain: str = ""
    policy: str = ""
    model: str = ""
    provider: str = ""
    request_id: str = ""
    error: str | None = None

    def signal(self, name: str) -> SignalReport | None:
        """The report for signal ``name`` (``None`` when it was not part of the plan)."""
        return next((s for s in self.signals if s.name == name), None)

    def explain(self) -> str:
        """Human-readable explanation: the decision's explanation plus each signal's status.

        A signal the guard *skipped* (it could not change the action, so it was never computed)
        is listed as ``skipped``, not under "missing signals": missing means it was wanted and
        could not be obtained (``decision.missing`` keeps the policy evaluator's view, which
        counts every absent signal)."""
        skipped = {s.name for s in self.signals if s.status == "skipped"}
        decision = self.decision
        if decision is not None and skipped & set(decision.missing):
            decision = decision.model_copy(
                update={"missing": [m for m in decision.missing if m not in skipped]}
            )
        lines = [decision.explain()] if decision else [f"FAILED: {self.error}"]
        for s in self.signals:
            if s.status == "computed":
                shown = f"{s.value:.3f}" if isinstance(s.value, float) else repr(s.value)
                lines.append(
                    f"  signal {s.name} = {shown}" + (f" ({s.calls} calls)" if s.calls else "")
                )
            else:
                lines.append(
                    f"  signal {s.name}: {s.status}" + (f" ({s.reason})" if s.reason else "")
                )
        c = self.cost
        lines.append(
            f"  cost: {c.calls} calls, {c.input_tokens}+{c.output_tokens} tokens, "
            f"{c.latency_s * 1000:.0f} ms"
        )
        return "\n".join(lines)


class StreamEvent(BaseModel):
    """One event of a guarded stream (:meth:`guardrail.Guard.stream`, ``docs/sdk.md``).

    Attributes:
        type: ``delta`` (append ``text`` to what the user sees), ``retraction`` (``live`` only:
            withdraw everything streamed so far and show ``text`` instead: the policy's
            abstention / review message, or the failure message), ``done`` (the last event;
            ``response`` is the verdict).
        mode: ``hold`` (nothing of an undecided answer was sent: the deltas are the decided
            text) or ``live`` (the deltas are the model's tokens as they arrived).
        text: the delta's text, or the retraction's replacement ("" on ``done``).
        response: the :class:`GuardedResponse`: on every event in ``hold`` mode (it is known
            before the first delta), on the ``retraction``, the notice delta and ``done`` in
            ``live`` mode; ``None`` on ``done`` when the reply was a tool call (passed through
            unguarded).
        retracted: on ``done``: a retraction was sent.
        tool_calls: the model answered with tool calls (passed through unevaluated): ``delta``
            events carry the upstream chunks in ``raw`` (``live``), or ``done`` carries the
            upstream completion document in ``raw`` (``hold``).
        raw: the upstream document the event came from, when there is one.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["delta", "retraction", "done"]
    mode: StreamMode
    text: str = ""
    response: GuardedResponse | None = None
    retracted: bool = False
    tool_calls: bool = False
    raw: dict[str, Any] | None = None

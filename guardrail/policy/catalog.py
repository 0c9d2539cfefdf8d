"""The policy language's vocabulary: actions, signals, settings and placeholders.

The signal table is the contract in ``docs/architecture.md`` ("Signal names"): name, type, range,
cost tier (cheapest first) and which ``signals { }`` entry gathers it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Action(StrEnum):
    """What to do with an answer, ordered by severity: ``pass < notice < review < abstain``.

    ``pass``: return the answer as is. ``notice``: return it with an uncertainty notice.
    ``review``: return it (with its notice) and queue it for human review. ``abstain``: do not
    return the answer (selective prediction's reject option).
    Comparisons (``<``, ``max``) use the severity, not the string.
    """

    PASS = "pass"
    NOTICE = "notice"
    REVIEW = "review"
    ABSTAIN = "abstain"

    @property
    def severity(self) -> int:
        """0 for pass ... 3 for abstain."""
        return _SEVERITY[self.value]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity < other.severity

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity <= other.severity

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity > other.severity

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity >= other.severity

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return self.value


_SEVERITY = {"pass": 0, "notice": 1, "review": 2, "abstain": 3}
ACTIONS: tuple[str, ...] = ("pass", "notice", "review", "abstain")

#: The values of ``reply_kind``; the same tuple as ``guardrail.signals.nonanswer.REPLY_KINDS``
#: (kept here so the policy package does not import the signals package; a test checks they match).
REPLY_KINDS: tuple[str, ...] = (
    "answer",
    "refusal",
    "dont_know",
    "restatement",
    "template",
    "loop",
    "empty",
)

SignalKind = Literal["probability", "count", "nonnegative", "category", "text"]


class SignalSpec(BaseModel):
    """One signal of the catalog.

    ``kind``: ``probability`` (float in [0, 1]), ``count`` (int >= 0), ``nonnegative`` (float >= 0,
    e.g. entropy in nats), ``category`` (one of ``choices``), ``text`` (any string).
    ``gathered_by``: the ``signals { }`` entry that computes it, or None when it is always
    available (given by the application or computed locally from the answer text).
    ``cost_tier``: 0 free/local, 1 free with the answer, 2 at most one extra call, 3 k calls,
    4 one call per ensemble model; ``calibrated`` costs what its source signal costs (None).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    kind: SignalKind
    choices: tuple[str, ...] = ()
    gathered_by: str | None
    cost_tier: int | None
    description: str

    @property
    def numeric(self) -> bool:
        """True for probability, count and nonnegative signals."""
        return self.kind in ("probability", "count", "nonnegative")

    @property
    def lower(self) -> float:
        """Smallest possible value (numeric signals)."""
        return 0.0

    @property
    def upper(self) -> float:
        """Largest possible value (numeric signals): 1 for probabilities, +inf otherwise."""
        return 1.0 if self.kind == "probability" else float("inf")


def _s(
    name: str,
    kind: SignalKind,
    gathered_by: str | None,
    tier: int | None,
    description: str,
    choices: tuple[str, ...] = (),
) -> SignalSpec:
    return SignalSpec(
        name=name,
        kind=kind,
        gathered_by=gathered_by,
        cost_tier=tier,
        description=description,
        choices=choices,
    )


SIGNALS: dict[str, SignalSpec] = {
    s.name: s
    for s in (
        _s("domain", "text", None, 0, "the application's domain (given by the app)"),
        _s(
            "stakes",
            "category",
            None,
            0,
            "how costly a wrong answer is (given by the app)",
            ("low", "medium", "high"),
        ),
        _s("hedges", "count", None, 0, "number of hedge cues in the answer (signals.hedges)"),
        _s("boosters", "count", None, 0, "number of booster cues in the answer (signals.hedges)"),
        _s(
            "hedge_label",
            "category",
            None,
            0,
            "hedged / neutral / assertive (signals.hedges)",
            ("hedged", "neutral", "assertive"),
        ),
        _s(
            "reply_kind",
            "category",
            None,
            0,
            "answer, or which non-answer the reply is (signals.nonanswer.classify_reply)",
            REPLY_KINDS,
        ),
        _s(
            "logprob_confidence",
            "probability",
            "logprobs",
            1,
            "confidence from the answer's token log-probabilities",
        ),
        _s(
            "verbalized",
            "probability",
            "verbalized",
            2,
            "confidence the model states for its answer (verbalized confidence)",
        ),
        _s(
            "consistency",
            "probability",
            "samples",
            3,
            "self-consistency: share of k samples in the answer's semantic cluster",
        ),
        _s(
            "semantic_entropy",
            "nonnegative",
            "samples",
            3,
            "semantic entropy (nats) over the k samples' meaning clusters",
        ),
        _s(
            "agreement",
            "probability",
            "ensemble",
            4,
            "semantic agreement of the ensemble models with the answer",
        ),
        _s(
            "calibrated",
            "probability",
            "calibration",
            None,
            "calibration profile applied to its source signal (observed accuracy)",
        ),
    )
}

#: Message placeholders that are not signals; values come from ``context`` at evaluation time.
CONTEXT_NAMES: dict[str, str] = {
    "knowledge_cutoff": "the model's knowledge cutoff (the policy's setting, or context)",
    "model": "the model that answered (context)",
    "policy": "the policy's name",
}

#: Policy-level settings and the shape of their value.
SETTINGS: dict[str, str] = {
    "description": "string",
    "calibration": "string (path to a calibration profile JSON, relative to the policy file)",
    "on_missing": "action (pass, notice, review or abstain)",
    "knowledge_cutoff": "string (shown by the {knowledge_cutoff} placeholder)",
    "spot_check": "fraction in [0, 1], e.g. 10% (share of passed answers sampled for review)",
    "plan": "latency or cost (how the SDK schedules samples; docs/sdk.md)",
    "stream": "hold or live (how a streamed answer reaches the user; docs/serve.md)",
}

#: Values of the ``plan`` setting: ``latency`` draws the samples concurrently with the answer and
#: cancels the ones that can no longer change the action; ``cost`` draws them after the answer in
#: waves and never sends a wave that cannot change the action.
PLANS = ("latency", "cost")

#: Values of the ``stream`` setting: ``hold`` sends nothing of an answer before the policy decided
#: (then the shown text); ``live`` relays the model's tokens as they come and retracts the answer
#: at the end when the decision is review or abstain. Default: ``hold`` when some rule,
#: ``otherwise`` or ``on_missing`` can give review or abstain, else ``live``.
STREAM_MODES = ("hold", "live")

#: Entries of the ``signals { }`` block: positional value shape and option names.
SIGNAL_ENTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "samples": ("integer k >= 2", ("temperature", "agreement", "model")),
    "ensemble": ("one or more model names (strings)", ("weights", "agreement", "model")),
    "verbalized": ("optional mode: followup or inline", ()),
    "hedges": ("optional lexicon name (string)", ("cues", "boosters")),
    "logprobs": ("nothing", ()),
}

VERBALIZED_MODES = ("followup", "inline")

#: Answer-equivalence backends a ``samples`` / ``ensemble`` entry may choose with
#: ``agreement "NAME"`` (the names of ``guardrail.signals.equivalence.BACKENDS``; a test keeps
#: the two equal) and the ones that call a model (``model "NAME"`` picks it).
EQUIVALENCE_BACKENDS: tuple[str, ...] = ("lexical", "embedding", "entailment")
MODEL_EQUIVALENCE_BACKENDS: tuple[str, ...] = ("embedding", "entailment")

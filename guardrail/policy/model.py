"""Public models of a checked policy: :class:`Policy` and its parts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from guardrail.policy.ast import Expr
from guardrail.policy.catalog import SIGNALS, Action
from guardrail.policy.decision import Decision, SignalValue
from guardrail.policy.errors import Diagnostic
from guardrail.policy.evaluator import Program
from guardrail.policy.template import parse_template


class SamplesConfig(BaseModel):
    """``samples K [temperature T] [agreement "BACKEND" [model "M"]]``: k extra samples for
    self-consistency (Wang et al. 2022, arXiv:2203.11171) and semantic entropy (Kuhn et al.
    2023, arXiv:2302.09664). ``equivalence`` names the answer-equivalence backend
    (``guardrail.signals.equivalence``); ``equivalence_model`` the embedding/judge model (None:
    the answering model)."""

    k: int = Field(ge=2)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    equivalence: Literal["lexical", "embedding", "entailment"] = "lexical"
    equivalence_model: str | None = None


class EnsembleConfig(BaseModel):
    """``ensemble "m1", "m2" [weights w1, w2] [agreement "BACKEND" [model "M"]]``: other models
    whose answers are compared, with the named answer-equivalence backend."""

    models: list[str]
    weights: list[float] | None = None
    equivalence: Literal["lexical", "embedding", "entailment"] = "lexical"
    equivalence_model: str | None = None


class VerbalizedConfig(BaseModel):
    """``verbalized [followup|inline]``: ask for a 0-100 confidence (Tian et al. 2023,
    arXiv:2305.14975); ``followup`` is one extra call, ``inline`` asks in the answer prompt."""

    mode: Literal["followup", "inline"] = "followup"


class HedgesConfig(BaseModel):
    """``hedges ["default" | "lexicon.json"] [cues "a", "b"] [boosters "c"]``: the hedge/booster
    lexicon (``"default"`` = the built-in one, else a lexicon JSON path, resolved relative to the
    policy file and checked to exist) and extra cue words. Always available (computed locally);
    ``declared`` says it was written."""

    lexicon: str = "default"
    cues: list[str] = Field(default_factory=list)
    boosters: list[str] = Field(default_factory=list)
    declared: bool = False


class SignalConfig(BaseModel):
    """What the ``signals { }`` block asks the SDK to gather (None = not gathered)."""

    samples: SamplesConfig | None = None
    ensemble: EnsembleConfig | None = None
    verbalized: VerbalizedConfig | None = None
    hedges: HedgesConfig = Field(default_factory=HedgesConfig)
    logprobs: bool = False

    def gathers(self, entry: str) -> bool:
        """True when the ``signals`` entry ``entry`` (samples, ensemble, ...) is configured."""
        if entry == "hedges":
            return True
        if entry == "logprobs":
            return self.logprobs
        return getattr(self, entry, None) is not None


class RuleDef(BaseModel):
    """A checked rule. ``condition`` is the AST; ``condition_text`` its canonical source."""

    name: str
    condition: Expr
    condition_text: str
    action: Action
    message: str | None = None
    line: int = 0
    reads: list[str] = Field(default_factory=list)


class OtherwiseDef(BaseModel):
    """``otherwise action ["message"]``."""

    action: Action
    message: str | None = None


class ExampleDef(BaseModel):
    """``example``: ``given`` values (None = missing; unlisted signals are missing too), the
    expected action and rules that must be among the matched rules."""

    name: str
    given: dict[str, float | str | None]
    expect: Action
    expect_rules: list[str] = Field(default_factory=list)
    line: int = 0


class ExampleResult(BaseModel):
    """Outcome of running one example."""

    example: ExampleDef
    decision: Decision
    passed: bool
    problems: list[str] = Field(default_factory=list)


class Policy(BaseModel):
    """A checked policy, ready to evaluate.

    ``calibration`` is resolved relative to the policy file. ``spot_check`` is the fraction in
    [0, 1] of passed answers the review queue samples (None = off). ``plan`` is how the SDK
    schedules samples: ``latency``, ``cost`` or None (one request for all k after the answer, no
    early stopping; docs/sdk.md "Plans"). ``stream`` is the written ``stream hold|live`` setting
    (None when absent); :attr:`stream_mode` is the mode that applies (docs/serve.md
    "Streaming"). ``warnings`` holds the
    checker's warnings (errors never reach a Policy: they raise PolicyError).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    description: str | None = None
    calibration: Path | None = None
    on_missing: Action = Action.REVIEW
    knowledge_cutoff: str | None = None
    spot_check: float | None = Field(default=None, ge=0.0, le=1.0)
    plan: Literal["latency", "cost"] | None = None
    stream: Literal["hold", "live"] | None = None
    signals: SignalConfig = Field(default_factory=SignalConfig)
    rules: list[RuleDef] = Field(default_factory=list)
    otherwise: OtherwiseDef | None = None
    examples: list[ExampleDef] = Field(default_factory=list)
    source_file: str | None = None
    warnings: list[Diagnostic] = Field(default_factory=list)

    _program: tuple[tuple[int, ...], Program] | None = PrivateAttr(default=None)

    def _program_key(self) -> tuple[int, ...]:
        # what the compiled program is built from; model_copy(update=...) changes these ids
        return (
            id(self.rules),
            id(self.otherwise),
            id(self.on_missing),
            id(self.name),
            id(self.knowledge_cutoff),
        )

    @property
    def program(self) -> Program:
        """The compiled form used by :meth:`evaluate` (built on first use, rebuilt after a
        ``model_copy(update=...)``)."""
        private = self.__pydantic_private__ or {}
        cached = private.get("_program")  # fast path (no __getattr__)
        key = self._program_key()
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]
        rules = [
            (
                r.name,
                r.condition,
                r.action,
                None if r.message is None else parse_template(r.message),
                r.line,
            )
            for r in self.rules
        ]
        other = None
        if self.otherwise is not None:
            msg = self.otherwise.message
            other = (self.otherwise.action, None if msg is None else parse_template(msg))
        builtins = {"policy": self.name}
        if self.knowledge_cutoff is not None:
            builtins["knowledge_cutoff"] = self.knowledge_cutoff
        program = Program(self.name, rules, self.on_missing, other, builtins)
        self._program = (key, program)
        return program

    @property
    def can_withhold(self) -> bool:
        """True when some decision of this policy withholds the answer: a rule, ``otherwise``
        or ``on_missing`` (when a rule reads a signal that can be missing) gives ``review`` or
        ``abstain``."""
        withholding = (Action.REVIEW, Action.ABSTAIN)
        if any(r.action in withholding for r in self.rules):
            return True
        if self.otherwise is not None and self.otherwise.action in withholding:
            return True
        return bool(self.rules) and self.on_missing in withholding

    @property
    def stream_mode(self) -> Literal["hold", "live"]:
        """How a streamed answer reaches the user: the ``stream`` setting, else ``hold`` for a
        policy that can withhold an answer (:attr:`can_withhold`) and ``live`` for one that can
        only pass or add a notice (nothing would ever be retracted)."""
        if self.stream is not None:
            return self.stream
        return "hold" if self.can_withhold else "live"

    def needed_signals(self) -> frozenset[str]:
        """Signals read by at least one rule condition."""
        return self.program.needed

    def gathered_signals(self) -> frozenset[str]:
        """Signals this policy's ``signals`` block (and calibration) makes available."""
        out = set()
        for name, spec in SIGNALS.items():
            if (
                spec.gathered_by is None
                or (spec.gathered_by == "calibration" and self.calibration is not None)
                or self.signals.gathers(spec.gathered_by)
            ):
                out.add(name)
        return frozenset(out)

    def evaluate(
        self,
        values: Mapping[str, SignalValue],
        *,
        context: Mapping[str, str] | None = None,
    ) -> Decision:
        """Decide what to do with one answer.

        ``values``: signal name -> value (probabilities in [0, 1], counts as ints, ``stakes``,
        ``hedge_label`` and ``domain`` as strings). A needed signal that is absent, None, of the
        wrong type, NaN or out of range is *missing*: a rule whose condition it leaves undecided
        counts as ``on_missing`` and the decision lists it. ``context`` fills message
        placeholders that are not signals (``knowledge_cutoff``, ``model``); the policy's
        ``knowledge_cutoff`` setting is the default. Never raises on bad values.
        """
        return self.program.evaluate(values, context)

    def signals_that_matter(self, known: Mapping[str, SignalValue]) -> frozenset[str]:
        """Needed signals not in ``known`` whose value could still change the decision's action.

        ``known`` holds the signals computed so far (a None value = computed but missing). A
        not-yet-computed signal is assumed able to take any value *or* to fail (then it counts
        via ``on_missing``). Sound: a signal left out can never change the action, whatever
        values it and the other unknown signals take; it may over-approximate. Empty means the
        action is settled and no further signal needs computing (DESIGN.md, cost-aware
        evaluation).
        """
        return self.program.signals_that_matter(known)

    def decide_on_ranges(
        self, known: Mapping[str, SignalValue], ranges: Mapping[str, tuple[float, float]]
    ) -> Action | None:
        """The action the policy gives at *every* point of a box of signal values, else None.

        ``known``: computed signals (None = missing); ``ranges``: numeric signal -> closed
        ``(lo, hi)`` it will lie in (present); any other needed signal is open (any value or
        missing). Sound, never approximate: an action is returned only if
        :meth:`evaluate` gives it at every point (may return None when it does but correlated
        signals hide it). Used for exact early stopping: after ``m`` of ``k`` samples with ``a``
        agreeing, ``consistency`` lies in ``[a/k, (a + k - m)/k]``. See
        :mod:`guardrail.policy.intervals` for the argument.

        Raises:
            ValueError: a range on a non-numeric or unknown signal, or ``lo > hi``.
        """
        from guardrail.policy.intervals import decide_on_ranges

        return decide_on_ranges(self.program, known, ranges)

    def run_examples(self) -> list[ExampleResult]:
        """Evaluate every ``example`` block; see :class:`ExampleResult`."""
        results = []
        for ex in self.examples:
            decision = self.evaluate(ex.given)
            problems = []
            if decision.action is not ex.expect:
                problems.append(f"expected {ex.expect.value}, got {decision.action.value}")
            fired = {m.rule for m in decision.matched}
            for rule in ex.expect_rules:
                if rule not in fired:
                    problems.append(f"rule {rule} did not fire")
            results.append(
                ExampleResult(example=ex, decision=decision, passed=not problems, problems=problems)
            )
        return results

    def summary(self) -> dict[str, Any]:
        """Plain-data overview (for ``--format json`` outputs)."""
        return {
            "name": self.name,
            "description": self.description,
            "on_missing": self.on_missing.value,
            "rules": [r.name for r in self.rules],
            "needed_signals": sorted(self.needed_signals()),
            "examples": len(self.examples),
        }

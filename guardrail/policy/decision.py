"""The result of evaluating a policy: :class:`Decision` and its :class:`RuleMatch` reasons."""

from __future__ import annotations

from pydantic import BaseModel, Field

from guardrail.policy.catalog import Action

SignalValue = float | int | str | None

MISSING_NOTICE = (
    "Some of the checks on this answer could not be completed, so treat it with extra care."
)
"""The notice added (once) when a rule that could not be decided counts as ``on_missing notice``:
the rule's own message describes its condition being true, which was not established."""


class RuleMatch(BaseModel):
    """One rule that fired (or counted as ``on_missing``).

    ``values``: the signal values that made the condition true (for ``a or b``, only the true
    side's signals). ``missing``: the signals the rule reads that were missing; when non-empty the
    rule's condition could not be decided and ``action`` is the policy's ``on_missing``.
    ``line`` is the rule's line in the policy file. ``message``: the rule's rendered message when
    it fired; None when it counted as ``on_missing`` (its condition was not established).
    """

    rule: str
    action: Action
    message: str | None = None
    values: dict[str, SignalValue] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    line: int = 0


class Decision(BaseModel):
    """What to do with one answer.

    ``action``: the most severe action among matched rules (``otherwise`` when none matched,
    ``pass`` when there is no ``otherwise``). ``message``: the rendered message of the first rule
    (in file order) that fired with action ``action``, or of ``otherwise``; None when the action
    comes only from rules counted as ``on_missing`` (their messages describe conditions that were
    not established). ``matched``: every matched rule in file order. ``notices``: rendered
    messages of fired ``notice`` rules in file order (plus ``otherwise``'s when it applied with
    ``notice``), and :data:`MISSING_NOTICE` once if an undecided rule counted as ``on_missing
    notice``. ``missing``: needed signals that were
    absent, None or invalid. ``invalid``: signal -> why its value was rejected (wrong type, NaN,
    outside its range); such a signal is treated as missing.
    """

    action: Action
    policy: str
    message: str | None = None
    matched: list[RuleMatch] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    invalid: dict[str, str] = Field(default_factory=dict)
    otherwise_applied: bool = False

    def explain(self) -> str:
        """A few lines of human text: the action, then why."""
        lines = [f"{self.action.value.upper()} (policy {self.policy})"]
        if self.message:
            lines.append(f"  message: {self.message}")
        for m in self.matched:
            vals = ", ".join(f"{k}={_show(v)}" for k, v in m.values.items())
            if m.missing:
                why = f"could not be decided: missing {', '.join(m.missing)} -> on_missing"
            else:
                why = f"because {vals}" if vals else "matched"
            lines.append(f"  rule {m.rule} (line {m.line}) -> {m.action.value}: {why}")
        if self.otherwise_applied:
            lines.append(f"  no rule matched -> otherwise {self.action.value}")
        elif not self.matched:
            lines.append("  no rule matched and there is no otherwise -> pass")
        for n in self.notices:
            lines.append(f"  notice: {n}")
        if self.missing:
            lines.append(f"  missing signals: {', '.join(self.missing)}")
        for k, why in self.invalid.items():
            lines.append(f"  invalid value for {k}: {why}")
        return "\n".join(lines)


def _show(v: SignalValue) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return repr(v) if isinstance(v, str) else str(v)

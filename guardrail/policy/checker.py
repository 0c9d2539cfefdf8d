"""Semantic checks: from a :class:`~guardrail.policy.ast.PolicyAST` to a :class:`Policy`.

Reports every problem it finds (not only the first) as a :class:`Diagnostic`:

========================  =======  ==========================================================
code                      level    meaning
========================  =======  ==========================================================
unknown-setting           error    a policy-level setting that does not exist (did you mean)
unknown-signal-entry      error    an entry of ``signals { }`` that does not exist
unknown-option            error    an option of a ``signals`` entry that does not exist
unknown-equivalence       error    ``agreement "NAME"`` names no answer-equivalence backend
unknown-signal            error    a name in a condition/example that is not a signal
unknown-action            error    not one of pass, notice, review, abstain
unknown-rule              error    ``expect ... by NAME`` names no rule
unknown-placeholder       error    ``{name}`` in a message is neither a signal nor context
bad-value                 error    a setting/option value of the wrong shape or range
bad-template              error    unbalanced braces, ``{x!r}``, ``{x.y}`` in a message
bad-format-spec           error    ``{x:spec}`` that cannot format the placeholder's type
bad-string-value          error    ``hedge_label == "hedgy"`` (not one of the choices)
type-mismatch             error    number vs string, non-boolean condition, ``<`` on strings
threshold-out-of-range    error    a probability signal compared with a number outside [0, 1]
signal-not-gathered       error    a rule reads a signal the ``signals`` block does not gather
calibration-required      error    ``calibrated`` used without a ``calibration`` setting
calibration-not-found     error    the ``calibration`` file does not exist
lexicon-not-found         error    the ``hedges`` lexicon file does not exist
lexicon-invalid           error    the ``hedges`` lexicon file is not a readable lexicon
calibration-invalid       error    the profile is not JSON, has no ``source``, maps a non-signal,
                                   or is not a loadable profile (missing map, bad values)
duplicate-rule            error    two rules with the same name
duplicate-setting         error    a setting, ``signals`` block, entry or otherwise given twice
duplicate-given           error    an example gives the same signal twice
unsatisfiable-rule        error    a condition no values can make true (interval analysis)
unused-signal             warning  a ``signals`` entry that no rule reads (it costs calls)
placeholder-not-gathered  warning  a message shows a signal the policy never gathers
duplicate-example         warning  two examples with the same name
calibration-domain        warning  the profile's ``domain`` is not the policy's name
========================  =======  ==========================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from guardrail.policy.ast import (
    And,
    Arith,
    Compare,
    Directive,
    Example,
    Expr,
    Ident,
    Missing,
    Name,
    Neg,
    Not,
    Number,
    Or,
    Otherwise,
    PolicyAST,
    Rule,
    SignalsBlock,
    Span,
    String,
    Value,
    Word,
)
from guardrail.policy.catalog import (
    ACTIONS,
    CONTEXT_NAMES,
    EQUIVALENCE_BACKENDS,
    MODEL_EQUIVALENCE_BACKENDS,
    PLANS,
    SETTINGS,
    SIGNAL_ENTRIES,
    SIGNALS,
    STREAM_MODES,
    VERBALIZED_MODES,
    Action,
    SignalSpec,
)
from guardrail.policy.errors import Diagnostic, Severity, Source
from guardrail.policy.evaluator import names_in
from guardrail.policy.exprfmt import expr_text
from guardrail.policy.intervals import may_hold, value_bounds
from guardrail.policy.limits import MAX_DIAGNOSTICS, MAX_PLACEHOLDERS
from guardrail.policy.model import (
    EnsembleConfig,
    ExampleDef,
    HedgesConfig,
    OtherwiseDef,
    Policy,
    RuleDef,
    SamplesConfig,
    SignalConfig,
    VerbalizedConfig,
)
from guardrail.policy.template import (
    Placeholder,
    TemplateError,
    check_spec,
    parse_template,
    spec_too_wide,
)

_DNF_LIMIT = 256
Backend = Literal["lexical", "embedding", "entailment"]
_TYPE_CODES = frozenset({"unknown-signal", "type-mismatch"})


def _profile_problem(path: Path) -> str | None:
    """Why the calibration profile at ``path`` cannot be loaded by
    :meth:`guardrail.calibration.CalibrationProfile.load` (the loader the SDK uses), or None.
    Checking here means a broken profile fails ``guardrail check``, not every guarded call."""
    from guardrail.calibration.profile import CalibrationProfile

    try:
        CalibrationProfile.load(path)
    except (OSError, ValueError) as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


def _lexicon_problem(path: Path) -> str | None:
    """Why the hedge lexicon at ``path`` cannot be used (first line of the error), or None.

    The lexicon is data for :mod:`guardrail.signals.hedges`, whose loader is the one judge of
    its shape; checking here means a bad file fails ``guardrail check``, not every guarded call.
    """
    from pydantic import ValidationError

    from guardrail.signals.hedges import load_lexicon

    try:
        load_lexicon(path)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "top level"
        return f"{where}: {first['msg']}"
    except (OSError, ValueError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (rapidfuzz ratio >= 60), or None."""
    options = list(choices)
    if not options:
        return None
    from rapidfuzz import fuzz, process  # only for "did you mean" hints: keeps start-up light

    match = process.extractOne(word, options, scorer=fuzz.ratio, score_cutoff=60)
    return None if match is None else str(match[0])


def gathered_entries(gathered: frozenset[str]) -> set[str | None]:
    """The ``signals`` entries (and ``calibration``) behind a set of gathered signal names."""
    return {SIGNALS[n].gathered_by for n in gathered}


def _value_text(v: Value) -> str:
    """A value as written (for hints)."""
    if isinstance(v, Word):
        return v.name
    if isinstance(v, Number):
        return v.text
    return str(getattr(v, "value", ""))


def _did_you_mean(word: str, choices: Iterable[str], fallback: str | None = None) -> str | None:
    options = list(choices)
    s = suggest(word, options)
    if s is not None:
        return f"did you mean '{s}'?"
    return fallback if fallback is not None else "expected one of: " + ", ".join(options)


@dataclass
class _Checker:
    src: Source
    base_dir: Path | None
    diags: list[Diagnostic] = field(default_factory=list)
    # (code, signal) already reported for the rule being checked: one report per rule
    reported: set[tuple[str, str]] = field(default_factory=set)

    def data_path(self, text: str) -> Path:
        """A file a policy names (calibration profile, hedge lexicon) as an absolute path:
        relative to the policy's folder (``base_dir``, else the current directory), so a later
        ``chdir`` in the host application does not change which file it is."""
        path = Path(text)
        if not path.is_absolute():
            path = (self.base_dir if self.base_dir is not None else Path.cwd()) / path
        return path.absolute()

    # -------------------------------------------------------------- reporting
    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(self._diagnostic(code, message, span, "error", hint))

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(self._diagnostic(code, message, span, "warning", hint))

    def _diagnostic(
        self, code: str, message: str, span: Span, severity: Severity, hint: str | None
    ) -> Diagnostic:
        """A full diagnostic (source line and caret) for the first ``MAX_DIAGNOSTICS``; beyond,
        a bare one (no line copy: O(1) memory), counted and dropped by ``check_text``."""
        if len(self.diags) < MAX_DIAGNOSTICS:
            return self.src.diagnostic(code, message, span, severity=severity, hint=hint)
        return Diagnostic(
            code=code,
            severity=severity,
            message=message,
            file=self.src.filename,
            line=span.line,
            column=span.column,
            end_column=span.end_column,
            source_line="",
            caret="",
        )

    # -------------------------------------------------------------- values
    def _one(self, d: Directive, what: str) -> Value | None:
        if d.options:
            self.error("bad-value", f"'{d.name.name}' takes no options", d.options[0].key.span)
            return None
        if len(d.values) != 1:
            span = d.values[1].span if len(d.values) > 1 else d.name.span
            self.error("bad-value", f"'{d.name.name}' takes exactly one value: {what}", span)
            return None
        return d.values[0]

    def _string(self, d: Directive, what: str) -> str | None:
        v = self._one(d, what)
        if v is None:
            return None
        if not isinstance(v, String):
            self.error(
                "bad-value",
                f"'{d.name.name}' expects {what}",
                v.span,
                hint=f'write it in quotes: {d.name.name} "..."',
            )
            return None
        return v.value

    def _action(self, ident_or_word: Ident | Word) -> Action | None:
        name = ident_or_word.name
        if name in ACTIONS:
            return Action(name)
        self.error(
            "unknown-action",
            f"unknown action '{name}'",
            ident_or_word.span,
            hint=_did_you_mean(name, ACTIONS),
        )
        return None

    def _number(
        self, v: Value, what: str, lo: float, hi: float, *, integer: bool = False, owner: str
    ) -> float | None:
        if not isinstance(v, Number):
            self.error("bad-value", f"'{owner}' expects {what}", v.span)
            return None
        if integer and (v.value != int(v.value) or v.text.endswith("%")):
            self.error("bad-value", f"'{owner}' expects {what}, got {v.text}", v.span)
            return None
        if not lo <= v.value <= hi:
            self.error("bad-value", f"'{owner}' expects {what}, got {v.text}", v.span)
            return None
        return v.value

    # -------------------------------------------------------------- signals block
    def signals_block(self, block: SignalsBlock) -> SignalConfig:
        cfg = SignalConfig()
        seen: dict[str, Directive] = {}
        for d in block.directives:
            name = d.name.name
            if name not in SIGNAL_ENTRIES:
                self.error(
                    "unknown-signal-entry",
                    f"unknown signals entry '{name}'",
                    d.name.span,
                    hint=_did_you_mean(name, SIGNAL_ENTRIES),
                )
                continue
            if name in seen:
                self.error(
                    "duplicate-setting",
                    f"'{name}' is configured twice",
                    d.name.span,
                    hint=f"first configured on line {seen[name].name.span.line}",
                )
                continue
            seen[name] = d
            allowed = SIGNAL_ENTRIES[name][1]
            opts: dict[str, list[Value]] = {}
            for opt in d.options:
                key = opt.key.name
                if key not in allowed:
                    hint = _did_you_mean(key, allowed) if allowed else f"'{name}' takes no options"
                    self.error(
                        "unknown-option",
                        f"unknown option '{key}' for '{name}'",
                        opt.key.span,
                        hint=hint,
                    )
                elif key in opts:
                    self.error("duplicate-setting", f"option '{key}' given twice", opt.key.span)
                else:
                    opts[key] = opt.values
            if name == "samples":
                cfg.samples = self._samples(d, opts)
            elif name == "ensemble":
                cfg.ensemble = self._ensemble(d, opts)
            elif name == "verbalized":
                cfg.verbalized = self._verbalized(d)
            elif name == "hedges":
                cfg.hedges = self._hedges(d, opts)
            elif name == "logprobs":
                if d.values:
                    self.error("bad-value", "'logprobs' takes no value", d.values[0].span)
                cfg.logprobs = True
        return cfg

    def _samples(self, d: Directive, opts: dict[str, list[Value]]) -> SamplesConfig | None:
        if len(d.values) != 1:
            span = d.values[1].span if d.values else d.name.span
            self.error(
                "bad-value",
                "'samples' takes one value: the number of samples k (>= 2)",
                span,
                hint="e.g. samples 5 temperature 0.7",
            )
            return None
        k = self._number(
            d.values[0],
            "a whole number of samples between 2 and 100",
            2,
            100,
            integer=True,
            owner="samples",
        )
        temp: float | None = 0.7
        if "temperature" in opts:
            tv = opts["temperature"]
            temp = (
                self._number(tv[0], "a temperature between 0 and 2", 0, 2, owner="temperature")
                if len(tv) == 1
                else None
            )
            if len(tv) != 1:
                self.error("bad-value", "'temperature' takes one number", tv[-1].span)
        # a bad backend is reported; the entry still gathers (no cascade of signal-not-gathered)
        equivalence = self._equivalence("samples", opts) or ("lexical", None)
        if k is None or temp is None:
            return None
        return SamplesConfig(
            k=int(k), temperature=temp, equivalence=equivalence[0], equivalence_model=equivalence[1]
        )

    def _equivalence(
        self, entry: str, opts: dict[str, list[Value]]
    ) -> tuple[Backend, str | None] | None:
        """``agreement "BACKEND"`` and ``model "NAME"`` of a samples/ensemble entry: the
        backend (default lexical) and its model, or None after reporting an error."""
        name: Backend = "lexical"
        ok = True
        if "agreement" in opts:
            av = opts["agreement"]
            v = av[0]
            if len(av) != 1:
                self.error(
                    "bad-value", "'agreement' takes one backend name", av[1].span,
                    hint=f'e.g. {entry} ... agreement "entailment"',
                )  # fmt: skip
                ok = False
            elif not isinstance(v, String):
                self.error(
                    "bad-value",
                    "the agreement backend is a string",
                    v.span,
                    hint='write it in quotes: agreement "' + _value_text(v) + '"',
                )
                ok = False
            elif v.value not in EQUIVALENCE_BACKENDS:
                self.error(
                    "unknown-equivalence",
                    f"unknown agreement backend '{v.value}'",
                    v.span,
                    hint=_did_you_mean(v.value, EQUIVALENCE_BACKENDS),
                )
                ok = False
            else:
                name = cast(Backend, v.value)
        model: str | None = None
        if "model" in opts:
            mv = opts["model"]
            v = mv[0]
            if len(mv) != 1 or not isinstance(v, String) or not v.value.strip():
                self.error(
                    "bad-value",
                    "'model' takes one non-empty model name in quotes",
                    mv[-1].span,
                    hint='e.g. agreement "embedding" model "nomic-embed-text"',
                )
                ok = False
            elif name not in MODEL_EQUIVALENCE_BACKENDS:
                self.error(
                    "bad-value",
                    f"'model' needs a model-backed agreement backend; '{name}' makes no model call",
                    v.span,
                    hint='write agreement "embedding" or agreement "entailment" before '
                    "model, or drop model",
                )
                ok = False
            else:
                model = v.value
        if not ok:
            return None
        return name, model

    def _ensemble(self, d: Directive, opts: dict[str, list[Value]]) -> EnsembleConfig | None:
        models = []
        ok = True
        if not d.values:
            self.error(
                "bad-value",
                "'ensemble' needs at least one model name",
                d.name.span,
                hint='e.g. ensemble "gpt-4o-mini", "llama-3.1-70b"',
            )
            return None
        for v in d.values:
            if isinstance(v, String) and v.value.strip():
                models.append(v.value)
            else:
                self.error(
                    "bad-value",
                    "model names are non-empty strings",
                    v.span,
                    hint="write the model name in quotes",
                )
                ok = False
        weights = None
        if "weights" in opts:
            wv = opts["weights"]
            weights = []
            for v in wv:
                w = self._number(v, "a positive weight", 0.0, math.inf, owner="weights")
                if w is None or w <= 0:
                    if w is not None:
                        self.error("bad-value", "weights must be positive", v.span)
                    ok = False
                else:
                    weights.append(w)
            if len(wv) != len(d.values):
                self.error(
                    "bad-value",
                    f"{len(wv)} weights for {len(d.values)} models",
                    wv[0].span,
                    hint="give one weight per model, in the same order",
                )
                ok = False
        equivalence = self._equivalence("ensemble", opts) or ("lexical", None)
        if not ok:
            return None
        return EnsembleConfig(
            models=models,
            weights=weights,
            equivalence=equivalence[0],
            equivalence_model=equivalence[1],
        )

    def _verbalized(self, d: Directive) -> VerbalizedConfig | None:
        if not d.values:
            return VerbalizedConfig()
        v = d.values[0]
        if len(d.values) > 1:
            self.error("bad-value", "'verbalized' takes at most one mode", d.values[1].span)
            return None
        if not isinstance(v, Word) or v.name not in VERBALIZED_MODES:
            text = v.name if isinstance(v, Word) else str(getattr(v, "value", ""))
            self.error(
                "bad-value",
                f"unknown verbalized mode '{text}'",
                v.span,
                hint=_did_you_mean(text, VERBALIZED_MODES),
            )
            return None
        return VerbalizedConfig(mode=v.name)  # type: ignore[arg-type]

    def _hedges(self, d: Directive, opts: dict[str, list[Value]]) -> HedgesConfig:
        cfg = HedgesConfig(declared=True)
        if len(d.values) > 1:
            self.error("bad-value", "'hedges' takes at most one lexicon name", d.values[1].span)
        elif d.values:
            v = d.values[0]
            if isinstance(v, String) and v.value != "default":
                path = self.data_path(v.value)
                if path.is_file():
                    cfg.lexicon = str(path)
                    problem = _lexicon_problem(path)
                    if problem is not None:
                        self.error(
                            "lexicon-invalid",
                            f"hedge lexicon '{v.value}' is not usable: {problem}",
                            v.span,
                            hint="a lexicon is a JSON object shaped like the built-in "
                            "guardrail/signals/data/hedges.json (see docs/signals.md)",
                        )
                else:
                    self.error(
                        "lexicon-not-found",
                        f"hedge lexicon '{v.value}' not found",
                        v.span,
                        hint=f'looked for {path}; write "default" for the built-in lexicon or '
                        "the path of a lexicon JSON file (relative to the policy file)",
                    )
            elif isinstance(v, String):
                cfg.lexicon = "default"
            else:
                self.error(
                    "bad-value",
                    "the hedge lexicon name is a string",
                    v.span,
                    hint='e.g. hedges "default" cues "reportedly"',
                )
        for key in ("cues", "boosters"):
            for v in opts.get(key, []):
                if isinstance(v, String) and v.value.strip():
                    getattr(cfg, key).append(v.value)
                else:
                    self.error("bad-value", f"{key} are non-empty strings", v.span)
        return cfg

    # -------------------------------------------------------------- expressions
    def type_of(self, e: Expr, gathered: frozenset[str], calibration: bool) -> str:
        """'bool', 'number', 'string' or 'error' (an error was reported)."""
        if isinstance(e, Number):
            return "number"
        if isinstance(e, String):
            return "string"
        if isinstance(e, Name):
            spec = SIGNALS.get(e.name)
            if spec is None:
                if e.name in CONTEXT_NAMES:
                    self.error(
                        "unknown-signal",
                        f"'{e.name}' is not a signal",
                        e.span,
                        hint=f"'{e.name}' can only be used as a message placeholder {{{e.name}}}",
                    )
                else:
                    self.error(
                        "unknown-signal",
                        f"unknown signal '{e.name}'",
                        e.span,
                        hint=_did_you_mean(e.name, SIGNALS),
                    )
                return "error"
            if spec.gathered_by is not None and spec.gathered_by not in gathered_entries(gathered):
                key = ("gathered", e.name)
                if key in self.reported:
                    return "number" if spec.numeric else "string"
                self.reported.add(key)
            if spec.gathered_by == "calibration" and not calibration:
                self.error(
                    "calibration-required",
                    "'calibrated' needs a calibration profile",
                    e.span,
                    hint='add: calibration "calibration/<domain>.json" (made by `guardrail audit`)',
                )
            elif (
                spec.gathered_by is not None
                and spec.gathered_by != "calibration"
                and e.name not in gathered
            ):
                self.error(
                    "signal-not-gathered",
                    f"'{e.name}' is read here but the policy does not gather it",
                    e.span,
                    hint=f"add '{spec.gathered_by}' to the signals {{ }} block",
                )
            return "number" if spec.numeric else "string"
        if isinstance(e, Neg):
            t = self.type_of(e.operand, gathered, calibration)
            if t not in ("number", "error"):
                self.error("type-mismatch", f"cannot negate a {t}", e.span)
                return "error"
            return t
        if isinstance(e, Arith):
            lt = self.type_of(e.left, gathered, calibration)
            rt = self.type_of(e.right, gathered, calibration)
            if "error" in (lt, rt):
                return "error"
            if lt != "number" or rt != "number":
                bad = e.left if lt != "number" else e.right
                self.error(
                    "type-mismatch",
                    f"'{e.op}' needs numbers, this is a {lt if lt != 'number' else rt}",
                    bad.span,
                )
                return "error"
            return "number"
        if isinstance(e, Compare):
            lt = self.type_of(e.left, gathered, calibration)
            rt = self.type_of(e.right, gathered, calibration)
            if "error" in (lt, rt):
                return "bool"
            if lt == "bool" or rt == "bool":
                bad = e.left if lt == "bool" else e.right
                self.error(
                    "type-mismatch",
                    "cannot compare a condition with a value",
                    bad.span,
                    hint="combine conditions with and / or",
                )
                return "bool"
            if lt != rt:
                self.error(
                    "type-mismatch",
                    f"cannot compare a {lt} with a {rt}",
                    e.span,
                    hint=self._compare_hint(e),
                )
                return "bool"
            if lt == "string":
                if e.op not in ("==", "!="):
                    self.error(
                        "type-mismatch",
                        f"'{e.op}' does not apply to strings",
                        e.span,
                        hint="strings are compared with == or !=",
                    )
                self._check_choice(e)
            else:
                self._check_threshold(e)
            return "bool"
        if isinstance(e, Not | And | Or):
            operands = [e.operand] if isinstance(e, Not) else e.operands
            word = "not" if isinstance(e, Not) else e.kind
            for o in operands:
                t = self.type_of(o, gathered, calibration)
                if t not in ("bool", "error"):
                    self.error(
                        "type-mismatch",
                        f"'{word}' needs conditions, this is a {t}",
                        o.span,
                        hint="write a comparison, e.g. consistency < 0.7",
                    )
            return "bool"
        raise AssertionError(e)  # pragma: no cover

    @staticmethod
    def _compare_hint(e: Compare) -> str | None:
        for side, other in ((e.left, e.right), (e.right, e.left)):
            if isinstance(side, Name) and side.name in SIGNALS:
                spec = SIGNALS[side.name]
                if spec.choices:
                    return f"{side.name} is one of: " + ", ".join(f'"{c}"' for c in spec.choices)
                if spec.numeric and isinstance(other, String):
                    return f"{side.name} is a number; drop the quotes"
        return None

    def _check_choice(self, e: Compare) -> None:
        for side, other in ((e.left, e.right), (e.right, e.left)):
            if isinstance(side, Name) and isinstance(other, String):
                spec = SIGNALS.get(side.name)
                if spec is not None and spec.choices and other.value not in spec.choices:
                    self.error(
                        "bad-string-value",
                        f"{side.name} is never {other.value!r}",
                        other.span,
                        hint=_did_you_mean(other.value, spec.choices),
                    )

    def _check_threshold(self, e: Compare) -> None:
        for side, other in ((e.left, e.right), (e.right, e.left)):
            if not isinstance(side, Name) or side.name not in SIGNALS:
                continue
            spec = SIGNALS[side.name]
            value: float | None = None
            if isinstance(other, Number):
                value = other.value
            elif isinstance(other, Neg) and isinstance(other.operand, Number):
                value = -other.operand.value
            if value is None:
                continue
            if spec.kind == "probability" and not 0.0 <= value <= 1.0:
                hint = None
                if 1.0 < value <= 100.0:
                    hint = f"{side.name} is in [0, 1]: write {value:g}% or {value / 100:g}"
                self.error(
                    "threshold-out-of-range",
                    f"{side.name} is a probability in [0, 1]; {value:g} is outside",
                    other.span,
                    hint=hint,
                )

    # -------------------------------------------------------------- satisfiability
    def unsatisfiable(self, e: Expr) -> str | None:
        """None when some values can make ``e`` true, else a short explanation."""
        dnf = _dnf(_nnf(e, False))
        if dnf is None:
            return None
        reasons = []
        for conj in dnf:
            why = _conj_unsat(conj)
            if why is None:
                return None
            reasons.append(why)
        return reasons[0] if reasons else "the condition is always false"

    # -------------------------------------------------------------- messages
    def template(self, msg: String, gathered: frozenset[str]) -> None:
        try:
            parts = parse_template(msg.value)
        except TemplateError as err:
            self.error(
                "bad-template",
                str(err),
                self._string_span(msg, err.offset, 1),
                hint="write {{ and }} for literal braces",
            )
            return
        holders = [p for p in parts if isinstance(p, Placeholder)]
        columns = self._decoded_columns(msg) if holders else []
        if len(holders) > MAX_PLACEHOLDERS:
            first = holders[MAX_PLACEHOLDERS]
            self.error(
                "too-many-placeholders",
                f"{len(holders)} placeholders in one message; the limit is {MAX_PLACEHOLDERS}",
                self._string_span(msg, first.offset, 1, columns),
                hint="a notice is read by a person: show a few signals, not all of them",
            )
            return
        for p in holders:
            span = self._string_span(
                msg, p.offset, len(p.name) + 2 + (len(p.spec) + 1 if p.spec else 0), columns
            )
            spec = SIGNALS.get(p.name)
            if spec is None and p.name not in CONTEXT_NAMES:
                self.error(
                    "unknown-placeholder",
                    f"unknown placeholder '{{{p.name}}}'",
                    span,
                    hint=_did_you_mean(p.name, [*SIGNALS, *CONTEXT_NAMES]),
                )
                continue
            sample: object = "text"
            if spec is not None and spec.numeric:
                sample = 3 if spec.kind == "count" else 0.5
            if p.spec:
                too_wide = spec_too_wide(p.spec)
                if too_wide is not None:
                    self.error(
                        "format-too-wide",
                        f"'{{{p.name}:...}}': {too_wide}",
                        span,
                        hint="the message is built on every evaluation; keep widths small",
                    )
                    continue
                problem = check_spec(p.spec, sample)
                if problem is not None:
                    self.error(
                        "bad-format-spec",
                        f"'{{{p.name}:{p.spec}}}' cannot format "
                        f"{'a number' if not isinstance(sample, str) else 'a string'}: "
                        f"{problem}",
                        span,
                        hint="numbers take specs like .0% or .2f; strings like >10",
                    )
            if spec is not None and p.name not in gathered:
                self.warn(
                    "placeholder-not-gathered",
                    f"'{{{p.name}}}' shows a signal this policy never gathers "
                    "(it will read 'unknown')",
                    span,
                )

    def _decoded_columns(self, s: String) -> list[int]:
        """For each index of the decoded string, its index in the raw literal (escapes are
        longer), plus one entry for the end: one linear pass per string."""
        raw = self.src.line_text(s.span.line)[s.span.column : s.span.end_column - 2]
        out: list[int] = []
        i = 0
        while i < len(raw):
            out.append(i)
            step = 1
            if raw[i] == "\\":
                step = 6 if raw[i + 1 : i + 2] == "u" else 2
            i += step
        out.append(i)
        return out

    def _string_span(
        self, s: String, offset: int, width: int, columns: list[int] | None = None
    ) -> Span:
        """Map an index in a decoded string to its source columns (escapes are longer)."""
        cols = columns if columns is not None else self._decoded_columns(s)
        col = s.span.column + 1
        i = cols[min(offset, len(cols) - 1)]
        start = col + i
        end = (
            min(start + max(width, 1), s.span.end_column - 1)
            if s.span.line == s.span.end_line
            else start + max(width, 1)
        )
        return Span(
            line=s.span.line, column=start, end_line=s.span.line, end_column=max(end, start + 1)
        )

    # -------------------------------------------------------------- whole policy
    def policy(self, ast: PolicyAST) -> Policy | None:
        settings: dict[str, object] = {}
        seen_settings: dict[str, Directive] = {}
        signals: SignalConfig | None = None
        signals_block: SignalsBlock | None = None
        otherwise: Otherwise | None = None
        rules: list[Rule] = []
        examples: list[Example] = []
        for item in ast.items:
            if isinstance(item, Directive):
                name = item.name.name
                if name not in SETTINGS:
                    fallback = None
                    if name in SIGNAL_ENTRIES:
                        fallback = f"'{name}' belongs inside the signals {{ }} block"
                    hint = fallback or _did_you_mean(
                        name, [*SETTINGS, "signals", "rule", "otherwise", "example"]
                    )
                    self.error(
                        "unknown-setting", f"unknown setting '{name}'", item.name.span, hint=hint
                    )
                    continue
                if name in seen_settings:
                    self.error(
                        "duplicate-setting",
                        f"'{name}' is set twice",
                        item.name.span,
                        hint=f"first set on line {seen_settings[name].name.span.line}",
                    )
                    continue
                seen_settings[name] = item
                settings[name] = self.setting(item)
            elif isinstance(item, SignalsBlock):
                if signals_block is not None:
                    self.error(
                        "duplicate-setting",
                        "a second signals block",
                        item.header,
                        hint=f"merge it into the block on line {signals_block.span.line}",
                    )
                    continue
                signals_block = item
                signals = self.signals_block(item)
            elif isinstance(item, Rule):
                rules.append(item)
            elif isinstance(item, Otherwise):
                if otherwise is not None:
                    self.error(
                        "duplicate-setting",
                        "a second otherwise",
                        item.span,
                        hint=f"the first is on line {otherwise.span.line}",
                    )
                    continue
                otherwise = item
            else:
                examples.append(item)
        signals = signals or SignalConfig()
        calibration = settings.get("calibration")
        has_calibration = "calibration" in seen_settings
        gathered = frozenset(
            n
            for n, s in SIGNALS.items()
            if s.gathered_by is None
            or (s.gathered_by == "calibration" and has_calibration)
            or (s.gathered_by != "calibration" and signals.gathers(s.gathered_by))
        )

        rule_defs: list[RuleDef] = []
        seen_rules: dict[str, Rule] = {}
        used: set[str] = set()
        for r in rules:
            if r.name.name in seen_rules:
                self.error(
                    "duplicate-rule",
                    f"rule '{r.name.name}' is defined twice",
                    r.name.span,
                    hint=f"first defined on line {seen_rules[r.name.name].name.span.line}",
                )
            else:
                seen_rules[r.name.name] = r
            before = sum(1 for d in self.diags if d.code in _TYPE_CODES)
            self.reported.clear()
            t = self.type_of(r.condition, gathered, has_calibration)
            if t not in ("bool", "error"):
                self.error(
                    "type-mismatch",
                    f"a condition must be true or false, this is a {t}",
                    r.condition.span,
                    hint="write a comparison, e.g. consistency < 0.7",
                )
            typed_ok = sum(1 for d in self.diags if d.code in _TYPE_CODES) == before
            if typed_ok:
                why = self.unsatisfiable(r.condition)
                if why is not None:
                    self.error(
                        "unsatisfiable-rule",
                        f"rule '{r.name.name}' can never fire: {why}",
                        r.condition.span,
                    )
            action = self._action(r.action)
            if r.message is not None:
                self.template(r.message, gathered)
            reads = names_in(r.condition)
            used |= reads
            if action is not None:
                rule_defs.append(
                    RuleDef(
                        name=r.name.name,
                        condition=r.condition,
                        condition_text=expr_text(r.condition),
                        action=action,
                        message=None if r.message is None else r.message.value,
                        line=r.span.line,
                        reads=sorted(reads),
                    )
                )
        other_def = None
        if otherwise is not None:
            action = self._action(otherwise.action)
            if otherwise.message is not None:
                self.template(otherwise.message, gathered)
            if action is not None:
                other_def = OtherwiseDef(
                    action=action,
                    message=None if otherwise.message is None else otherwise.message.value,
                )
        source: str | None = None
        if isinstance(calibration, Path):
            source = self._profile(
                calibration, seen_settings["calibration"], ast.name.name, used, gathered
            )
        if signals_block is not None:
            # `calibrated` is computed from the profile's source signal: reading it uses that
            # entry (the checker requires it to be gathered), so it is not "unused".
            feeds = {source} if source is not None and "calibrated" in used else set()
            self._unused(signals_block, used | feeds)
        example_defs = self.examples(examples, set(seen_rules))
        if any(d.severity == "error" for d in self.diags):
            return None
        return Policy(
            name=ast.name.name,
            description=settings.get("description"),  # type: ignore[arg-type]
            calibration=calibration,  # type: ignore[arg-type]
            on_missing=settings.get("on_missing") or Action.REVIEW,  # type: ignore[arg-type]
            knowledge_cutoff=settings.get("knowledge_cutoff"),  # type: ignore[arg-type]
            spot_check=settings.get("spot_check"),  # type: ignore[arg-type]
            plan=settings.get("plan"),  # type: ignore[arg-type]
            stream=settings.get("stream"),  # type: ignore[arg-type]
            signals=signals,
            rules=rule_defs,
            otherwise=other_def,
            examples=example_defs,
            source_file=None if self.src.filename.startswith("<") else self.src.filename,
            warnings=[d for d in self.diags if d.severity == "warning"],
        )

    def setting(self, d: Directive) -> object:
        name = d.name.name
        if name == "description":
            return self._string(d, "a string")
        if name == "knowledge_cutoff":
            return self._string(d, 'a string such as "2024-06"')
        if name == "on_missing":
            v = self._one(d, "an action")
            if v is None:
                return None
            if not isinstance(v, Word):
                self.error(
                    "bad-value",
                    "'on_missing' expects an action (pass, notice, review, abstain)",
                    v.span,
                    hint="write the action without quotes",
                )
                return None
            return self._action(v)
        if name == "spot_check":
            v = self._one(d, "a fraction such as 10%")
            if v is None:
                return None
            return self._number(
                v, "a fraction in [0, 1] such as 10% or 0.1", 0.0, 1.0, owner="spot_check"
            )
        if name == "plan":
            v = self._one(d, "latency or cost")
            if v is None:
                return None
            if not isinstance(v, Word) or v.name not in PLANS:
                self.error(
                    "bad-value",
                    "'plan' expects latency or cost",
                    v.span,
                    hint="write `plan latency` (samples alongside the answer) or `plan cost`",
                )
                return None
            return v.name
        if name == "stream":
            v = self._one(d, "hold or live")
            if v is None:
                return None
            if not isinstance(v, Word) or v.name not in STREAM_MODES:
                self.error(
                    "bad-value",
                    "'stream' expects hold or live",
                    v.span,
                    hint="write `stream hold` (nothing shown before the decision) or "
                    "`stream live` (tokens flow; a withheld answer is retracted at the end)",
                )
                return None
            return v.name
        if name == "calibration":
            path_text = self._string(d, "a path string")
            if path_text is None:
                return None
            path = self.data_path(path_text)
            if not path.is_file():
                self.error(
                    "calibration-not-found",
                    f"calibration profile '{path_text}' not found",
                    d.values[0].span,
                    hint=f"looked for {path}; create it with `guardrail audit` or remove the line",
                )
                return None
            return path
        raise AssertionError(name)  # pragma: no cover

    def _profile(
        self, path: Path, d: Directive, policy: str, used: set[str], gathered: frozenset[str]
    ) -> str | None:
        """Peek into the calibration profile JSON: readable, its ``source`` a signal this policy
        gathers (when ``calibrated`` is read), its ``domain`` the policy's name (warning).
        Returns the profile's source signal when it is a confidence signal, else None."""
        span = d.values[0].span
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            self.error(
                "calibration-invalid",
                f"cannot read calibration profile: {err}",
                span,
                hint="regenerate it with `guardrail audit`",
            )
            return None
        source = data.get("source") if isinstance(data, dict) else None
        if not isinstance(source, str):
            self.error(
                "calibration-invalid",
                "calibration profile has no 'source' (the raw signal it maps)",
                span,
                hint="regenerate it with `guardrail audit`",
            )
            return None
        spec = SIGNALS.get(source)
        if spec is None or not spec.numeric or source == "calibrated":
            self.error(
                "calibration-invalid",
                f"calibration profile maps '{source}', which is not a confidence signal",
                span,
            )
            return None
        problem = _profile_problem(path)
        if problem is not None:
            self.error(
                "calibration-invalid",
                f"calibration profile is not usable: {problem}",
                span,
                hint="regenerate it with `guardrail audit report --profile-out`",
            )
            return None
        if "calibrated" in used and source not in gathered:
            self.error(
                "signal-not-gathered",
                f"the calibration profile maps '{source}', which this policy does not gather",
                span,
                hint=f"add '{spec.gathered_by}' to the signals {{ }} block",
            )
        domain = data.get("domain")
        if isinstance(domain, str) and domain != policy:
            self.warn(
                "calibration-domain",
                f"calibration profile is for domain '{domain}', this policy is '{policy}'",
                span,
            )
        return source

    def _unused(self, block: SignalsBlock, used: set[str]) -> None:
        if any(d.code == "unknown-signal" for d in self.diags):
            return  # a misspelt signal may be the reader: "remove it" would be wrong advice
        for d in block.directives:
            entry = d.name.name
            if entry not in SIGNAL_ENTRIES or entry == "hedges":
                continue
            provides = {n for n, s in SIGNALS.items() if s.gathered_by == entry}
            if not provides & used:
                self.warn(
                    "unused-signal",
                    f"'{entry}' is gathered but no rule reads " + " or ".join(sorted(provides)),
                    d.name.span,
                    hint="remove it to save calls, or add a rule that uses it",
                )

    def _given_value(
        self, name: str, spec: SignalSpec, v: Number | String | Missing
    ) -> tuple[bool, float | str | None]:
        """``(True, value)`` for a valid ``given`` value of signal ``name`` (None for
        ``missing``), else ``(False, None)`` after reporting why."""
        if isinstance(v, Missing):
            return True, None
        if spec.numeric:
            if not isinstance(v, Number):
                self.error(
                    "type-mismatch",
                    f"{name} is a number",
                    v.span,
                    hint=self._compare_hint(Compare(op="==", left=Name(name=name), right=v)),
                )
                return False, None
            if not spec.lower <= v.value <= spec.upper:
                self.error(
                    "threshold-out-of-range",
                    f"{name} must be in [{spec.lower:g}, {spec.upper:g}]",
                    v.span,
                )
                return False, None
            if spec.kind == "count" and (v.value != int(v.value) or v.text.endswith("%")):
                self.error("bad-value", f"{name} is a whole count", v.span)
                return False, None
            return True, int(v.value) if spec.kind == "count" else v.value
        if not isinstance(v, String):
            self.error(
                "type-mismatch", f"{name} is a string", v.span, hint="write the value in quotes"
            )
            return False, None
        if spec.choices and v.value not in spec.choices:
            self.error(
                "bad-string-value",
                f"{name} is never {v.value!r}",
                v.span,
                hint=_did_you_mean(v.value, spec.choices),
            )
            return False, None
        return True, v.value

    def examples(self, examples: Sequence[Example], rule_names: set[str]) -> list[ExampleDef]:
        out = []
        seen: dict[str, Example] = {}
        for ex in examples:
            if ex.name.value in seen:
                self.warn(
                    "duplicate-example",
                    f"example {ex.name.value!r} is defined twice",
                    ex.name.span,
                    hint=f"first defined on line {seen[ex.name.value].span.line}",
                )
            seen.setdefault(ex.name.value, ex)
            given: dict[str, float | str | None] = {}
            spans: dict[str, Span] = {}
            for line in ex.given:
                for g in line.assigns:
                    name = g.name.name
                    spec = SIGNALS.get(name)
                    if spec is None:
                        self.error(
                            "unknown-signal",
                            f"unknown signal '{name}'",
                            g.name.span,
                            hint=_did_you_mean(name, SIGNALS),
                        )
                        continue
                    if name in spans:
                        self.error(
                            "duplicate-given",
                            f"'{name}' is given twice",
                            g.name.span,
                            hint=f"first given on line {spans[name].line}",
                        )
                        continue
                    spans[name] = g.name.span
                    ok, value = self._given_value(name, spec, g.value)
                    if ok:
                        given[name] = value
            expect = self._action(ex.expect)
            for r in ex.expect_rules:
                if r.name not in rule_names:
                    self.error(
                        "unknown-rule",
                        f"no rule named '{r.name}'",
                        r.span,
                        hint=_did_you_mean(
                            r.name,
                            rule_names,
                            fallback=(
                                "rules: " + ", ".join(sorted(rule_names))
                                if rule_names
                                else "this policy has no rules"
                            ),
                        ),
                    )
            if expect is not None:
                out.append(
                    ExampleDef(
                        name=ex.name.value,
                        given=given,
                        expect=expect,
                        expect_rules=[r.name for r in ex.expect_rules],
                        line=ex.span.line,
                    )
                )
        return out


# ------------------------------------------------------------------ interval analysis

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _nnf(e: Expr, negate: bool) -> Expr:
    if isinstance(e, Not):
        return _nnf(e.operand, not negate)
    if isinstance(e, And | Or):
        ops = [_nnf(o, negate) for o in e.operands]
        if isinstance(e, And) != negate:
            return And(operands=ops)
        return Or(operands=ops)
    if isinstance(e, Compare) and negate:
        return Compare(op=_NEGATE[e.op], left=e.left, right=e.right)  # type: ignore[arg-type]
    return e


def _dnf(e: Expr) -> list[list[Compare]] | None:
    if isinstance(e, Compare):
        return [[e]]
    if isinstance(e, Or):
        out: list[list[Compare]] = []
        for o in e.operands:
            d = _dnf(o)
            if d is None:
                return None
            out.extend(d)
            if len(out) > _DNF_LIMIT:
                return None
        return out
    if isinstance(e, And):
        acc: list[list[Compare]] = [[]]
        for o in e.operands:
            d = _dnf(o)
            if d is None:
                return None
            acc = [a + b for a in acc for b in d]
            if len(acc) > _DNF_LIMIT:
                return None
        return acc
    return None


@dataclass
class _Interval:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def add(self, op: str, c: float) -> None:
        if op in ("<", "<="):
            if c < self.hi or (c == self.hi and op == "<"):
                self.hi, self.hi_open = c, op == "<"
        elif op in (">", ">="):
            if c > self.lo or (c == self.lo and op == ">"):
                self.lo, self.lo_open = c, op == ">"
        elif op == "==":
            self.add("<=", c)
            self.add(">=", c)

    def empty(self) -> bool:
        lo, hi = self.lo, self.hi
        if self.integer and math.isfinite(lo) and math.isfinite(hi):
            lo = math.floor(lo) + 1 if self.lo_open and lo == math.floor(lo) else math.ceil(lo)
            hi = math.ceil(hi) - 1 if self.hi_open and hi == math.ceil(hi) else math.floor(hi)
            return lo > hi
        if lo > hi:
            return True
        return lo == hi and (self.lo_open or self.hi_open)


def _const(e: Expr) -> float | None:
    if isinstance(e, Number):
        return e.value
    if isinstance(e, Neg):
        inner = _const(e.operand)
        return None if inner is None else -inner
    return None


def _bounds(e: Expr, iv: dict[str, _Interval]) -> tuple[float, float] | None:
    """Bounds of a numeric expression: a signal in its narrowed interval or its catalog range
    (shared interval arithmetic: :func:`guardrail.policy.intervals.value_bounds`)."""

    def bound_of(name: str) -> tuple[float, float] | None:
        spec = SIGNALS.get(name)
        if spec is None or not spec.numeric:
            return None
        i = iv.get(name)
        return (i.lo, i.hi) if i is not None else (spec.lower, spec.upper)

    return value_bounds(e, bound_of)


def _conj_unsat(conj: list[Compare]) -> str | None:
    """None when the conjunction may hold, else why it cannot."""
    iv: dict[str, _Interval] = {}
    eq: dict[str, set[str]] = {}
    ne: dict[str, set[str]] = {}
    rest: list[Compare] = []
    texts: dict[str, list[str]] = {}
    for c in conj:
        left, right, op = c.left, c.right, c.op
        if isinstance(right, Name) and not isinstance(left, Name):
            left, right, op = right, left, _FLIP[op]  # type: ignore[assignment]
        lc, rc = _const(c.left), _const(c.right)
        if lc is not None and rc is not None:
            if not _holds(op, lc - rc):
                return f"{expr_text(c)} is always false"
            continue
        if isinstance(left, Name) and left.name in SIGNALS:
            spec = SIGNALS[left.name]
            k = _const(right)
            if spec.numeric and k is not None:
                i = iv.setdefault(
                    left.name, _Interval(spec.lower, spec.upper, integer=spec.kind == "count")
                )
                i.add(op, k)
                texts.setdefault(left.name, []).append(expr_text(c))
                continue
            if isinstance(right, String):
                target = eq if op == "==" else ne
                target.setdefault(left.name, set()).add(right.value)
                texts.setdefault(left.name, []).append(expr_text(c))
                continue
        rest.append(c)
    for name, i in iv.items():
        if i.empty():
            spec = SIGNALS[name]
            rng = "[0, 1]" if spec.kind == "probability" else ">= 0"
            return f"no value of {name} ({rng}) satisfies " + " and ".join(texts[name])
    for name in set(eq) | set(ne):
        spec = SIGNALS[name]
        eqs, nes = eq.get(name, set()), ne.get(name, set())
        possible = set(spec.choices) if spec.choices else None
        if len(eqs) > 1 or eqs & nes or (possible is not None and not (possible - nes)):
            return f"no value of {name} satisfies " + " and ".join(texts[name])
    for c in rest:
        a, b = _bounds(c.left, iv), _bounds(c.right, iv)
        if a is None or b is None:
            continue
        dlo, dhi = a[0] - b[1], a[1] - b[0]
        if not may_hold(c.op, dlo, dhi):
            if b[0] == b[1]:
                return f"{expr_text(c)} cannot hold: the left side is in [{a[0]:g}, {a[1]:g}]"
            return (
                f"{expr_text(c)} cannot hold: the left side minus the right is in "
                f"[{dlo:g}, {dhi:g}]"
            )
    return None


def _holds(op: str, d: float) -> bool:
    return {"<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0, "==": d == 0, "!=": d != 0}[op]


def check_ast(
    ast: PolicyAST, src: Source, base_dir: Path | None
) -> tuple[Policy | None, list[Diagnostic]]:
    """Run every check; returns the Policy (None when there are errors) and all diagnostics."""
    checker = _Checker(src, base_dir)
    policy = checker.policy(ast)
    return policy, checker.diags

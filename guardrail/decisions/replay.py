"""Policy replay: evaluate a candidate policy on logged signal values, in bounded memory.

Input: decision logs (:mod:`guardrail.decisions.log`) as JSONL (nested records, one per line),
CSV or Parquet (flat rows: ``request_id, time, domain, policy_version, action, missing,
skipped`` with ``;``-joined name lists, one ``v.<signal>`` column per signal, optional ``label``
and ``sampling_rate``). Logs are read in chunks (:func:`iter_chunks`) and folded into a
:class:`ReplayAccumulator`, which holds only counts: its size depends on the number of domains,
actions, days and distinct sampling rates, never on the number of rows. Two accumulators merge
exactly (integer counts), so a chunked single-process run and a run split over Dask partitions
(:mod:`guardrail.decisions.distributed`) give identical reports, bit for bit.

Per row, with ``known`` = the logged values plus ``None`` for every logged *missing* signal
(the guard tried and failed, so production would also have counted them as missing):

* if the candidate needs a signal that is neither logged nor missing (the guard *skipped* it
  under the old policy, or never gathered it), and
  :meth:`~guardrail.policy.Policy.signals_that_matter` says that signal could change the action,
  the row is **undetermined**: the replay does not invent a value, it counts the row and names
  the signals;
* otherwise the candidate's action is exact: ``candidate.evaluate(known)`` (sound because a
  signal outside ``signals_that_matter`` cannot change the action whatever its value).

Accuracy of what is shown (action ``pass`` or ``notice``) before and after, from labelled rows:
spot checks (probability sample of the non-review traffic, ``sampling_rate`` = pi) and review
labels (every review decision is sent, pi = 1) together form a Poisson sample of all traffic, so
the Hajek/Horvitz-Thompson estimate ``sum(y/pi) / sum(1/pi)`` over the labelled rows of a set is
design-unbiased for that set when every review item was labelled (unlabelled review rows that the
candidate would show are counted in ``unlabelled_now_shown``). Variance by Taylor linearisation
and the Korn-Graubard interval, as ``guardrail review audit`` (:mod:`guardrail.review.live`;
Horvitz & Thompson 1952, JASA 47(260):663-685; Korn & Graubard 1998, Survey Methodology
24(2):193-201). Labels: ``correct`` -> 1, ``incorrect`` and ``partially`` -> 0 (the strict reading,
the live audit's default), ``cannot_judge`` -> not counted.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, TypeVar

from guardrail.policy import Policy
from guardrail.policy.catalog import SIGNALS
from guardrail.policy.evaluator import signal_value_problem
from guardrail.review.live import korn_graubard_interval

__all__ = [
    "ACTIONS",
    "HTCounts",
    "ReplayAccumulator",
    "ReplayInputError",
    "Row",
    "distinct_sources",
    "iter_chunks",
    "labels_from_store",
    "normalize",
    "replay_files",
]

#: Actions from least to most severe, then the replay-only outcomes.
ACTIONS = ("pass", "notice", "review", "abstain")
SHOWN = frozenset({"pass", "notice"})
_ACTION_SET = frozenset(ACTIONS)
UNDETERMINED = "undetermined"
FAILED = "failed"
DEFAULT_CHUNK_ROWS = 50_000
#: Distinct signal-value tuples remembered per domain (then the memo starts over): bounds memory
#: while discrete signals (consistency k/7, stated percentages, counts) rarely miss.
CACHE_SIZE = 65_536

SignalValue = float | int | str | None
T = TypeVar("T")


class ReplayInputError(ValueError):
    """A decision log cannot be read: names the file (and line or row) and what is wrong."""


class Row(NamedTuple):
    """One logged decision, normalised from any input format.

    ``values`` includes ``None`` for the logged *missing* signals; ``outcome`` is 1/0 for a
    usable label (``None`` when unlabelled or ``cannot_judge``) and ``rate`` its inclusion
    probability in (0, 1]; ``policy_version`` the logged one (``""`` when none was logged).
    """

    request_id: str
    day: str
    domain: str
    action: str
    values: dict[str, SignalValue]
    skipped: tuple[str, ...] = ()
    outcome: int | None = None
    rate: float | None = None
    policy_version: str = ""


# ---------------------------------------------------------------------------- accumulators


@dataclass
class HTCounts:
    """Labelled rows of one set, as integer counts per sampling rate: rate -> [n, n_correct].

    Exact to merge; the Horvitz-Thompson sums are formed once, in sorted rate order, so the
    estimate does not depend on how rows were split.
    """

    by_rate: dict[float, list[int]] = field(default_factory=dict)

    def add(self, outcome: int, rate: float) -> None:
        """Count one labelled row: ``outcome`` 1 (correct) or 0, sampled with probability
        ``rate`` in (0, 1]."""
        cell = self.by_rate.setdefault(rate, [0, 0])
        cell[0] += 1
        cell[1] += outcome

    def merge(self, other: HTCounts) -> None:
        """Add ``other``'s counts (exact: integer sums per rate)."""
        for rate, (n, c) in other.by_rate.items():
            cell = self.by_rate.setdefault(rate, [0, 0])
            cell[0] += n
            cell[1] += c

    @property
    def n(self) -> int:
        """Labelled rows counted."""
        return sum(n for n, _ in self.by_rate.values())

    def estimate(self, level: float = 0.95) -> dict[str, Any] | None:
        """``{"n", "accuracy", "se", "low", "high"}`` or None without labels.

        ``accuracy = sum_k y_k/pi_k / sum_k 1/pi_k``;
        ``V = sum_k (1 - pi_k)/pi_k^2 (y_k - accuracy)^2 / (sum_k 1/pi_k)^2`` (the same
        formulas as :func:`guardrail.review.live.horvitz_thompson_mean`, summed per rate);
        interval :func:`guardrail.review.live.korn_graubard_interval`.

        Both ratios are computed with the weights ``w = pi_min / pi`` in (0, 1] instead of
        ``1/pi`` (they cancel): the same estimate up to rounding, and no overflow for tiny
        rates (``1/pi^2`` is infinite below pi = 1e-154).
        """
        n = self.n
        if n == 0:
            return None
        rates = sorted(self.by_rate)
        least = rates[0]
        n_hat = sum(self.by_rate[r][0] * (least / r) for r in rates)
        mean = sum(self.by_rate[r][1] * (least / r) for r in rates) / n_hat
        mean = min(1.0, max(0.0, mean))
        var = 0.0
        for r in rates:
            k, c = self.by_rate[r]
            w = least / r
            var += (1.0 - r) * w * w * (c * (1.0 - mean) ** 2 + (k - c) * mean**2)
        var /= n_hat * n_hat
        low, high = korn_graubard_interval(mean, max(var, 0.0), n, level)
        return {"n": n, "accuracy": mean, "se": math.sqrt(max(var, 0.0)), "low": low, "high": high}


@dataclass
class DomainReplay:
    """Counts of one domain (see :class:`ReplayAccumulator`)."""

    n: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    days: set[str] = field(default_factory=set)
    needs: Counter[str] = field(default_factory=Counter)
    labelled: int = 0
    unlabelled_now_shown: int = 0
    before_shown: HTCounts = field(default_factory=HTCounts)
    after_shown: HTCounts = field(default_factory=HTCounts)
    no_policy: bool = False
    versions: Counter[str] = field(default_factory=Counter)

    def merge(self, other: DomainReplay) -> None:
        """Add ``other``'s counts (same domain, another chunk or partition); exact."""
        self.n += other.n
        self.transitions.update(other.transitions)
        self.days |= other.days
        self.needs.update(other.needs)
        self.labelled += other.labelled
        self.unlabelled_now_shown += other.unlabelled_now_shown
        self.before_shown.merge(other.before_shown)
        self.after_shown.merge(other.after_shown)
        self.no_policy = self.no_policy or other.no_policy
        self.versions.update(other.versions)


class ReplayAccumulator:
    """Mergeable replay state: per domain, (logged action -> candidate action) counts, UTC
    days seen, signals the candidate lacked, and labelled outcomes per sampling rate.

    Args:
        policies: domain -> candidate policy (rows of other domains are counted with their
            logged action kept and reported as ``no_policy``).
        labels: optional request id -> (outcome 0/1, sampling rate) joined onto rows that carry
            no label of their own (e.g. from :func:`labels_from_store`).
        memo: domain -> (signal-value tuple -> action) to share between accumulators of the
            *same* policies (a Dask worker's tasks); default: a fresh one.

    Memory: O(domains x actions^2 + days + distinct rates + logged policy versions),
    independent of the number of rows,
    plus a memo of at most :data:`CACHE_SIZE` evaluated signal-value tuples per domain.
    ``evaluations`` counts the calls to :meth:`~guardrail.policy.Policy.evaluate` actually made
    (distinct tuples; a row repeating a tuple reuses its action). It depends on how rows were
    split, so it is not part of :meth:`report`.
    """

    def __init__(
        self,
        policies: Mapping[str, Policy],
        labels: Mapping[str, tuple[int, float]] | None = None,
        *,
        memo: dict[str, dict[tuple[Any, ...], str]] | None = None,
    ) -> None:
        self.policies = dict(policies)
        self.labels = labels
        self.domains: dict[str, DomainReplay] = {}
        self.evaluations = 0
        self._needed = {
            name: tuple(sorted(p.needed_signals())) for name, p in self.policies.items()
        }
        self._needed_set = {name: frozenset(n) for name, n in self._needed.items()}
        self._cache: dict[str, dict[tuple[Any, ...], str]] = {} if memo is None else memo

    def add_rows(self, rows: Iterable[Row]) -> ReplayAccumulator:
        """Fold rows in; returns ``self``."""
        for row in rows:
            self.add(row)
        return self

    def candidate_action(self, row: Row) -> tuple[str, frozenset[str]]:
        """The candidate's action for ``row`` (``undetermined`` with the signals it lacks, or
        the logged action when the domain has no candidate policy or the call had failed)."""
        policy = self.policies.get(row.domain)
        if policy is None or row.action == FAILED:
            return row.action, frozenset()
        values = row.values  # holds "domain" (normalize puts it there)
        if not values.keys() >= self._needed_set[row.domain]:
            lacking = policy.signals_that_matter(values)
            if lacking:
                return UNDETERMINED, lacking
        # the action is a pure function of the needed signals' values (type included: an int
        # where a float is expected is not the same input; absent and None are both missing):
        # evaluate each distinct tuple once
        key = tuple([(type(v), v) for v in map(values.get, self._needed[row.domain])])
        cache = self._cache.setdefault(row.domain, {})
        action = cache.get(key)
        if action is None:
            self.evaluations += 1
            action = policy.evaluate(values).action.value
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[key] = action
        return action, frozenset()

    def add(self, row: Row) -> None:
        """Fold one row in."""
        d = self.domains.get(row.domain)
        if d is None:
            d = self.domains[row.domain] = DomainReplay(no_policy=row.domain not in self.policies)
        new, lacking = self.candidate_action(row)
        d.n += 1
        d.transitions[(row.action, new)] += 1
        d.days.add(row.day)
        d.versions[row.policy_version] += 1
        if lacking:
            d.needs.update(lacking)
        outcome, rate = row.outcome, row.rate
        if outcome is None and self.labels is not None:
            joined = self.labels.get(row.request_id)
            if joined is not None:
                outcome, rate = joined
        if outcome is None or rate is None:
            if row.action == "review" and new in SHOWN:
                d.unlabelled_now_shown += 1
            return
        d.labelled += 1
        if row.action in SHOWN:
            d.before_shown.add(outcome, rate)
        if new in SHOWN:
            d.after_shown.add(outcome, rate)

    def merge(self, other: ReplayAccumulator) -> ReplayAccumulator:
        """Add ``other``'s counts into ``self`` (exact; commutative and associative); returns
        ``self``."""
        for name, d in other.domains.items():
            mine = self.domains.get(name)
            if mine is None:
                self.domains[name] = mine = DomainReplay()
            mine.merge(d)
        self.evaluations += other.evaluations
        return self

    def __getstate__(self) -> dict[str, Any]:  # ship counts, not policies, between processes
        return {"domains": self.domains, "evaluations": self.evaluations}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.policies = {}
        self.labels = None
        self._needed = {}
        self._needed_set = {}
        self._cache = {}
        self.domains = state["domains"]
        self.evaluations = state["evaluations"]

    def report(self, level: float = 0.95) -> dict[str, Any]:
        """The replay report: ``{"domains": {name: {...}}, "rows": N, "changed": N}``.

        Per domain: ``rows``; ``days`` (distinct UTC dates in the log); ``changed`` and
        ``transitions`` (``"review->pass": count``, changed ones only); ``before`` / ``after``
        with per-action ``counts``, ``review_per_day`` (review decisions / days),
        ``abstention_rate`` (abstain / rows) and ``shown_accuracy`` (estimate, se, 95% interval,
        n labelled; None without labels); ``undetermined`` rows and ``missing_signals`` (signal
        -> rows that needed it); ``labelled``; ``unlabelled_now_shown``; ``no_policy``;
        ``policy_versions`` (logged ``policy_version`` -> rows, ``""`` for rows without one:
        with more than one, *before* is the mix of those policies, not one policy).
        """
        out: dict[str, Any] = {}
        total = changed_total = 0
        for name in sorted(self.domains):
            d = self.domains[name]
            before: Counter[str] = Counter()
            after: Counter[str] = Counter()
            for (old, new), c in d.transitions.items():
                before[old] += c
                after[new] += c
            changed = {
                f"{old}->{new}": c
                for (old, new), c in sorted(d.transitions.items())
                if old != new and c
            }
            n_changed = sum(changed.values())
            days = max(len(d.days), 1)

            out[name] = {
                "rows": d.n,
                "days": len(d.days),
                "changed": n_changed,
                "transitions": changed,
                "before": _side(before, d.before_shown, d.n, days, level),
                "after": _side(after, d.after_shown, d.n, days, level),
                "undetermined": after.get(UNDETERMINED, 0),
                "missing_signals": dict(sorted(d.needs.items())),
                "labelled": d.labelled,
                "unlabelled_now_shown": d.unlabelled_now_shown,
                "no_policy": d.no_policy,
                "policy_versions": dict(sorted(d.versions.items())),
            }
            total += d.n
            changed_total += n_changed
        return {"rows": total, "changed": changed_total, "domains": out}


def _side(counts: Counter[str], ht: HTCounts, n: int, days: int, level: float) -> dict[str, Any]:
    return {
        "counts": {a: counts.get(a, 0) for a in (*ACTIONS, FAILED, UNDETERMINED)},
        "review_per_day": counts.get("review", 0) / days,
        "abstention_rate": counts.get("abstain", 0) / n if n else 0.0,
        "shown_accuracy": ht.estimate(level),
    }


# ---------------------------------------------------------------------------- reading

#: A signal name in ``missing`` / ``skipped`` (the DSL's identifiers).
_SIGNAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A CSV cell read as a number: decimal notation only ("nan", "inf", "1_000", "0x1f" stay text).
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
#: Float noise allowed past a probability's [0, 1], as the evaluator allows it.
_TOLERANCE = 1e-9
_TIME_HELP = "time must be an ISO 8601 time such as 2026-12-01T10:00:00+00:00"
Layout = Literal["record", "csv", "parquet"]


def _shown(v: Any) -> str:
    """``repr(v)`` cut to 80 characters (an int past 4,300 digits has no repr)."""
    try:
        text = repr(v)
    except ValueError:
        return f"a {type(v).__name__} too long to show"
    return text if len(text) <= 80 else text[:77] + "..."


#: ``;``-joined name lists already checked (flat logs repeat a few, e.g. ``"verbalized"``).
_NAME_LISTS: dict[str, list[str]] = {}


def _names(v: Any, what: str) -> list[str]:
    """Signal names of a ``missing`` / ``skipped`` field: a list of names, one string of names
    joined with ``;`` (flat rows), or a JSON array of names as text.

    Raises:
        ValueError: any other shape, or an element that is not a signal name.
    """
    if v is None or (type(v) in (str, list) and not v):
        return []
    if type(v) is str:
        known = _NAME_LISTS.get(v)
        if known is not None:
            return list(known)
        names = _parse_names(v, what)
        if len(_NAME_LISTS) >= 4096:
            _NAME_LISTS.clear()
        _NAME_LISTS[v] = names
        return list(names)
    return _parse_names(v, what)


def _parse_names(v: Any, what: str) -> list[str]:
    names: Any
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            try:
                names = json.loads(text)
            except (ValueError, RecursionError):
                names = None
            if not isinstance(names, list):
                raise ValueError(f"{what} is not a JSON list of signal names: {_shown(v)}")
        else:
            names = [s.strip() for s in text.split(";") if s.strip()]
    elif isinstance(v, list | tuple):
        names = v
    else:
        raise ValueError(f"{what} must be a list of signal names, got {type(v).__name__}")
    for name in names:
        if not isinstance(name, str) or not _SIGNAL_NAME.fullmatch(name):
            raise ValueError(f"{what}: {_shown(name)} is not a signal name")
    return list(names)


def _text_cell(v: str) -> SignalValue:
    """A CSV cell: an int or float when it is a decimal number (``3``, ``0.9``, ``-1e-3``),
    else the text itself (``"high"``, ``"nan"``, ``"true"``)."""
    s = v.strip()
    if _DECIMAL.fullmatch(s):
        if len(s) <= 4000 and _INTEGER.fullmatch(s):
            return int(s)
        return float(s)  # past float range: inf, rejected as not finite
    return v


def _value_problem(name: str, v: Any) -> str | None:
    """Why ``v`` is no value the guard could have logged for signal ``name`` (None: it is).

    The evaluator's rule (:func:`guardrail.policy.evaluator.signal_value_problem`: numbers for
    probability / count / nonnegative signals, strings for category / text ones), plus: numbers
    must be finite. A category string outside the catalog's choices is accepted: ``stakes``
    comes from the application unchecked, and production treated such a value as missing, as
    the replay's evaluation does. Names outside the catalog are not checked (no policy reads
    them).
    """
    spec = SIGNALS.get(name)
    if spec is None:
        return None
    if spec.numeric and isinstance(v, float) and not math.isfinite(v):
        return "not a finite number"
    problem = signal_value_problem(name, v)
    if problem is not None and spec.kind == "category" and isinstance(v, str):
        return None
    return problem


#: signal -> (numeric, lowest, highest finite value accepted, whole numbers only): the values
#: :func:`_checked` accepts without asking :func:`_value_problem` (which decides the rest).
_FAST_CHECK: dict[str, tuple[bool, float, float, bool]] = {
    name: (
        spec.numeric,
        spec.lower,
        spec.upper + _TOLERANCE if math.isfinite(spec.upper) else sys.float_info.max,
        spec.kind == "count",
    )
    for name, spec in SIGNALS.items()
}


def _checked(values: Mapping[Any, Any], *, drop_none: bool) -> dict[str, SignalValue]:
    """``values`` with every catalog signal's value checked (:func:`_value_problem`);
    ``None`` values kept (a missing signal) or dropped (a null Parquet struct field)."""
    out: dict[str, SignalValue] = {}
    for name, v in values.items():
        if v is None:
            if not drop_none:
                out[name] = None
            continue
        fast = _FAST_CHECK.get(name)  # the common valid values, without a function call
        tp = type(v)
        if fast is not None and (
            (tp is str and not fast[0])
            or (
                fast[0]
                and (tp is float or tp is int)
                and fast[1] <= v <= fast[2]
                and (tp is int or not fast[3] or v.is_integer())
            )
        ):
            out[name] = v
            continue
        if not isinstance(name, str):
            raise ValueError(f"signal names must be strings, got {_shown(name)}")
        problem = _value_problem(name, v)
        if problem is not None:
            spec = SIGNALS[name]
            raise ValueError(
                f"signal {name!r} has the value {_shown(v)}: {problem} ({name} is a "
                f"{spec.kind} signal; docs/scale.md, Malformed records)"
            )
        out[name] = v
    return out


_LABELS = {"correct": 1, "incorrect": 0, "partially": 0, "true": 1, "false": 0}


def _label(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    key = str(v).strip().lower()
    if key in ("cannot_judge",):
        return None
    if key not in _LABELS:
        raise ValueError(f"unknown label {_shown(v)} (correct, incorrect, partially, cannot_judge)")
    return _LABELS[key]


def _day(t: Any) -> str:
    """The UTC date (``YYYY-MM-DD``) of a logged time: ISO 8601 text (a time with an offset is
    moved to UTC; one without is taken as UTC; a bare date is that day), a ``datetime`` or a
    ``date`` (Parquet timestamp / date columns).

    Raises:
        ValueError: no time (a row without its day would count as one more day and lower the
            review load per day), or anything else (a number, text that is no ISO 8601 time).
    """
    if t is None or t == "":
        raise ValueError("no time (review load is counted per UTC day: every decision needs one)")
    try:
        if isinstance(t, str):
            dt = datetime.fromisoformat(t.strip())
        elif isinstance(t, datetime):
            dt = t
        elif isinstance(t, date):
            return t.isoformat()
        else:
            raise ValueError
        if dt.tzinfo is not None and dt.utcoffset():
            dt = dt.astimezone(UTC)
        return dt.date().isoformat()
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past UTC
        raise ValueError(f"{_TIME_HELP}, got {_shown(t)}") from None


def _rate(r: Any, text_cells: bool) -> float:
    if r is None or r == "":
        return 1.0
    if text_cells and isinstance(r, str):
        r = _text_cell(r)
    if isinstance(r, bool) or not isinstance(r, int | float) or not 0.0 < r <= 1.0:
        raise ValueError(f"sampling_rate must be a number in (0, 1], got {_shown(r)}")
    return float(r)


def normalize(raw: Mapping[str, Any], *, layout: Layout = "record") -> Row:
    """A :class:`Row` from a nested JSONL / table record or a flat CSV / Parquet row.

    ``layout`` says how the values are typed: ``record`` (JSON: a number is a number, ``"0.9"``
    is a string), ``csv`` (every cell is text: a ``v.<signal>`` cell in decimal notation is a
    number, and a ``values`` cell is the record's ``values`` object as JSON text) or ``parquet``
    (typed columns; ``values`` may be a struct column, whose null fields were not logged, or
    JSON text). Signal values are checked against the signal catalog (:func:`_value_problem`).

    Raises:
        ValueError: no ``domain`` (or not a string), an unknown action or label, a ``time``
            that is no ISO 8601 time, a sampling rate outside (0, 1], a signal value of the
            wrong type (``"0.9"`` or ``true`` for a probability), not finite, or out of the
            signal's range, ``values`` that is no object, ``missing`` / ``skipped`` that are no
            list of signal names, a ``request_id`` that is no string or integer.
    """
    domain = raw.get("domain")
    if not domain:
        raise ValueError("no domain")
    if not isinstance(domain, str):
        raise ValueError(f"domain must be a string, got {type(domain).__name__}")
    action = raw.get("action") or (FAILED if raw.get("status") == FAILED else None)
    if action not in ACTIONS and action != FAILED:
        raise ValueError(f"unknown action {_shown(action)}")
    text_cells = layout == "csv"
    values: dict[str, SignalValue]
    nested = raw.get("values")
    has_values = nested is not None and nested != ""
    # v.<signal> keys: the flat layouts' signals (a JSONL record with a values object has none)
    flat = (
        {}
        if has_values and layout == "record"
        else {k: v for k, v in raw.items() if k.startswith("v.") and v is not None and v != ""}
    )
    if has_values:
        if isinstance(nested, str) and layout != "record":
            try:
                nested = json.loads(nested)
            except (ValueError, RecursionError):
                raise ValueError(f"values is not JSON: {_shown(raw.get('values'))}") from None
            drop_none = False
        else:
            drop_none = layout == "parquet"  # a struct column: null = not logged
        if not isinstance(nested, Mapping):
            raise ValueError(f"values must be an object, got {type(nested).__name__}")
        if flat:
            raise ValueError("signals in both values and v.<signal> columns")
        values = _checked(nested, drop_none=drop_none)
    else:
        cells = {k[2:]: _text_cell(v) if text_cells and isinstance(v, str) else v
                 for k, v in flat.items()}  # fmt: skip
        values = _checked(cells, drop_none=True)
    for name in _names(raw.get("missing"), "missing"):
        values[name] = None
    logged_domain = values.setdefault("domain", domain)
    if logged_domain is not None and logged_domain != domain:
        raise ValueError(f"values.domain {_shown(logged_domain)} is not the domain {domain!r}")
    day = _day(raw.get("time"))
    rid = raw.get("request_id")
    if rid is None:
        rid = ""
    elif isinstance(rid, bool) or not isinstance(rid, str | int):
        raise ValueError(f"request_id must be a string, got {type(rid).__name__}")
    version = raw.get("policy_version")
    if version is None:
        version = ""
    elif not isinstance(version, str):
        raise ValueError(f"policy_version must be a string, got {type(version).__name__}")
    outcome = _label(raw.get("label"))
    rate = _rate(raw.get("sampling_rate"), text_cells) if outcome is not None else None
    return Row(
        request_id=str(rid),
        day=day,
        domain=domain,
        action=str(action),
        values=values,
        skipped=tuple(_names(raw.get("skipped"), "skipped")),
        outcome=outcome,
        rate=rate,
        policy_version=version,
    )


def log_format(path: str | Path) -> str:
    """``jsonl``, ``csv``, ``parquet`` or ``table`` from the name (``.jsonl``/``.json``/
    ``.ndjson``, rotated ``decisions.jsonl.2026-12-01`` too; ``.csv``; ``.parquet``/``.pq``;
    ``table`` for a database: ``sqlite:...``, ``postgresql://...``, or a ``.db`` / ``.sqlite`` /
    ``.sqlite3`` file, read from its ``decision_log`` table). Works on local paths and on
    object-storage URLs alike (only the last path segment is looked at).

    Raises:
        ReplayInputError: any other name.
    """
    from guardrail.decisions.table import is_table_url

    text = str(path)
    if is_table_url(text):
        return "table"
    name = text.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if ".jsonl" in name or name.endswith((".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".db", ".sqlite", ".sqlite3")):
        return "table"
    raise ReplayInputError(
        f"{text}: unknown log format (use .jsonl, .csv, .parquet, or a sqlite:/postgresql:// "
        "database)"
    )


def iter_chunks(
    path: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    row_groups: list[int] | None = None,
    id_range: tuple[int, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Iterator[list[Row]]:
    """Read one decision log in chunks of at most ``chunk_rows`` normalised rows.

    ``path`` is a local file, an fsspec URL (``s3://bucket/decisions/x.parquet``, ``gs://``,
    ``az://``, ...: :mod:`guardrail.storage`, extra ``s3`` for S3) or a database URL
    (``sqlite:///abs/review.db``, ``sqlite:rel.db``, ``postgresql://...``: the ``decision_log``
    table written by :class:`~guardrail.decisions.table.DecisionTable`, read in ``id`` order).

    Parquet needs ``pyarrow`` (extra ``scale``) and is read one record batch at a time;
    ``row_groups`` restricts it to those row groups, ``id_range`` (inclusive) a table to those
    ids (a Dask partition). ``storage_options`` go to fsspec (``endpoint_url``, ``key``, ...).

    A malformed record is named by its position, counted from 1 whatever part of the file is
    read: ``file.jsonl:LINE`` (the line in the file, blank lines counted), ``file.csv row N
    (line L)`` (N-th data row after the header; L the line it ends on, as a quoted field may
    span lines), ``file.parquet row N`` (in the whole file, across row groups), ``DATABASE id
    K`` (the ``decision_log`` table's ``id``). Text that is no UTF-8 or no CSV is named by its
    line (``file:LINE``).

    Raises:
        ReplayInputError: unreadable file or table, malformed line/row (with its position),
            a flat header without ``domain`` / ``action`` or with a repeated column, unknown
            format.
        ImportError: Parquet without pyarrow, a URL without fsspec or its file system's package.
    """
    from guardrail import storage as sources

    fmt = log_format(path)
    if fmt == "table":
        yield from _table_chunks(str(path), chunk_rows, id_range)
        return
    label = str(path)
    p = Path(label) if not sources.is_url(label) else None
    if p is not None and not p.is_file():
        raise ReplayInputError(f"{p}: no such file")
    with _opened(sources.open_binary(label, storage_options), label) as fh:
        if fmt == "parquet":
            yield from _parquet_chunks(fh, label, chunk_rows, row_groups)
        elif fmt == "csv":
            yield from _csv_chunks(fh, label, chunk_rows)
        else:
            yield from _jsonl_chunks(fh, label, chunk_rows)


def _lines(fh: IO[bytes], label: str) -> Iterator[str]:
    """The lines of a binary file as text (line ends kept), decoded one line at a time so that
    bytes that are no UTF-8 are named by their line; a UTF-8 byte order mark is dropped."""
    for i, raw in enumerate(fh, start=1):
        try:
            yield raw.decode("utf-8-sig" if i == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ReplayInputError(
                f"{label}:{i}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1})"
            ) from None


def _jsonl_chunks(fh: IO[bytes], label: str, chunk_rows: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for i, line in enumerate(_lines(fh, label), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayInputError(f"{label}:{i}: not JSON: {exc.msg}") from exc
        except RecursionError:
            raise ReplayInputError(f"{label}:{i}: not JSON: nested too deeply") from None
        except ValueError as exc:  # an integer of more than 4,300 digits
            raise ReplayInputError(f"{label}:{i}: not JSON: {exc}") from None
        if not isinstance(rec, dict):
            raise ReplayInputError(f"{label}:{i}: not a JSON object")
        chunk.append(_normalize_one(rec, f"{label}:{i}"))
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_columns(names: list[str], label: str) -> None:
    """A flat log's header: no column twice (a reader would keep one of them), ``domain`` and
    ``action`` (or ``status``) present."""
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise ReplayInputError(f"{label}: column {repeated[0]!r} appears more than once")
    for need in ("domain", "action"):
        if need not in names and not (need == "action" and "status" in names):
            raise ReplayInputError(
                f"{label}: no {need!r} column (flat logs: request_id, time, domain, action, "
                "missing, skipped, v.<signal>...; docs/scale.md)"
            )


def _csv_chunks(fh: IO[bytes], label: str, chunk_rows: int) -> Iterator[list[Row]]:
    reader = csv.reader(_lines(fh, label))
    chunk: list[Row] = []
    try:
        header = next(reader, None)
        if header is None:  # an empty file: no rows
            return
        _check_columns(header, label)
        n = 0
        for fields in reader:
            if not fields:  # a blank line
                continue
            n += 1
            where = f"{label} row {n} (line {reader.line_num})"
            if len(fields) != len(header):
                raise ReplayInputError(
                    f"{where}: {len(fields)} fields, the header has {len(header)}"
                )
            chunk.append(_normalize_one(dict(zip(header, fields, strict=True)), where, "csv"))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
    except csv.Error as exc:  # a field past csv.field_size_limit() (128 KiB)
        raise ReplayInputError(f"{label}:{reader.line_num}: not readable as CSV ({exc})") from None
    if chunk:
        yield chunk


def _parquet_chunks(
    fh: IO[bytes], label: str, chunk_rows: int, row_groups: list[int] | None
) -> Iterator[list[Row]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fh)
        sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
        names = list(pf.schema_arrow.names)
    except Exception as exc:
        raise ReplayInputError(f"{label}: not a readable Parquet file: {exc}") from exc
    _check_columns(names, label)
    starts = [sum(sizes[:g]) for g in range(len(sizes))]
    for g in range(len(sizes)) if row_groups is None else row_groups:
        start = starts[g]  # rows before this row group: positions count in the whole file
        batches = pf.iter_batches(batch_size=chunk_rows, row_groups=[g])
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    break
                suspect = _suspect_rows(batch)
                cols = batch.to_pydict()
            except Exception as exc:  # a corrupt page, a type pyarrow cannot convert
                raise ReplayInputError(f"{label}: not a readable Parquet file: {exc}") from exc
            yield _rows_from_columns(cols, batch.num_rows, label, start, suspect)
            start += batch.num_rows


def _suspect_rows(batch: Any) -> set[int]:
    """Rows (0-based in ``batch``) with a ``v.<signal>`` value of the wrong type, not finite or
    out of the signal's range, found column by column with Arrow compute kernels: the
    row-by-row path (:func:`normalize`) then names the first of them. Integer and floating
    columns of numeric signals are checked value by value; any other column type of a numeric
    signal (text, bool, decimal) holds wrong values wherever it is not null; likewise anything
    but a text column for a category / text signal."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: set[int] = set()
    for name in batch.schema.names:
        spec = SIGNALS.get(name[2:]) if name.startswith("v.") else None
        if spec is None:
            continue
        col = batch.column(name)
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.dictionary_decode(), t.value_type
        if spec.numeric and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            ok = pc.and_(
                pc.greater_equal(col, spec.lower),
                pc.less_equal(col, spec.upper + _TOLERANCE),
            )
            if pa.types.is_floating(t):
                ok = pc.and_(ok, pc.is_finite(col))
                if spec.kind == "count":
                    ok = pc.and_(ok, pc.equal(col, pc.floor(col)))
            bad = pc.invert(ok)
        elif not spec.numeric and (pa.types.is_string(t) or pa.types.is_large_string(t)):
            continue
        else:
            bad = pc.is_valid(col)
        out.update(pc.indices_nonzero(pc.fill_null(bad, False)).to_pylist())
    return out


@contextmanager
def _opened(cm: AbstractContextManager[T], label: str) -> Iterator[T]:
    """Enter ``cm`` (an opener), turning a failure to *open* into :class:`ReplayInputError`."""
    try:
        fh = cm.__enter__()
    except FileNotFoundError as exc:
        raise ReplayInputError(f"{label}: no such file or object") from exc
    except OSError as exc:
        raise ReplayInputError(f"{label}: {exc}") from exc
    try:
        yield fh
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        cm.__exit__(None, None, None)


def _table_chunks(
    url: str, chunk_rows: int, id_range: tuple[int, int] | None
) -> Iterator[list[Row]]:
    from guardrail._safety import redact_url
    from guardrail.decisions.table import DecisionTableError, is_table_url, open_decision_table

    label = redact_url(url)
    try:
        table = open_decision_table(url if is_table_url(url) else f"sqlite:{url}", create=False)
    except DecisionTableError as exc:
        raise ReplayInputError(str(exc)) from exc
    except ImportError:
        raise
    except Exception as exc:  # driver errors: cannot connect, not a database
        raise ReplayInputError(f"{label}: cannot read the decision log table: {exc}") from exc
    with table:
        pages = table.read_rows(chunk_rows, id_range=id_range)
        while True:
            try:
                page = next(pages, None)
            except DecisionTableError as exc:  # a row that does not decode
                raise ReplayInputError(f"{label} {exc}") from exc
            except Exception as exc:  # driver errors while reading: connection lost, ...
                raise ReplayInputError(
                    f"{label}: cannot read the decision log table: {exc}"
                ) from exc
            if page is None:
                return
            yield [_normalize_one(rec, f"{label} id {row_id}") for row_id, rec in page]


def _normalize_one(rec: Mapping[str, Any], where: str, layout: Layout = "record") -> Row:
    try:
        return normalize(rec, layout=layout)
    except (ValueError, TypeError) as exc:
        raise ReplayInputError(f"{where}: {exc}") from exc


def _rows_from_columns(
    cols: dict[str, list[Any]], n: int, path: str, start: int, suspect: set[int] | frozenset[int]
) -> list[Row]:
    """Flat rows from typed columns (Parquet): the same rows :func:`normalize` gives, without
    a dict per row. ``start`` is the number of rows of the file before these (positions are
    ``start + i + 1``); ``suspect`` rows (:func:`_suspect_rows`) and rows with anything unusual
    (no domain or not a string, an odd action, time or request id, a label, malformed
    ``missing`` / ``skipped``) go through :func:`normalize` itself, as does every row of a file
    with a ``values`` or ``v.domain`` column."""

    def slow(i: int) -> Row:
        rec = {k: c[i] for k, c in cols.items()}
        return _normalize_one(rec, f"{path} row {start + i + 1}", "parquet")

    if "values" in cols or "v.domain" in cols:
        return [slow(i) for i in range(n)]
    none = [None] * n
    sig = [(k[2:], v) for k, v in cols.items() if k.startswith("v.")]
    ids, times = cols.get("request_id", none), cols.get("time", none)
    domains, actions = cols.get("domain", none), cols.get("action", none)
    missing, skipped = cols.get("missing", none), cols.get("skipped", none)
    labels, versions = cols.get("label", none), cols.get("policy_version", none)
    out: list[Row] = []
    append = out.append
    for i in range(n):
        dom, act, rid, version = domains[i], actions[i], ids[i], versions[i]
        if (
            not dom
            or not isinstance(dom, str)
            or act not in _ACTION_SET
            or labels[i] is not None
            or (rid is not None and type(rid) is not str and type(rid) is not int)
            or (version is not None and type(version) is not str)
            or (suspect and i in suspect)
        ):
            append(slow(i))
            continue
        try:
            day = _day(times[i])
            values = {s: c[i] for s, c in sig if c[i] is not None}
            m = missing[i]
            if m:
                for name in _names(m, "missing"):
                    values[name] = None
            sk = skipped[i]
            skip = tuple(_names(sk, "skipped")) if sk else ()
        except ValueError:
            append(slow(i))  # raises, naming the row
            continue
        values.setdefault("domain", dom)
        rid = "" if rid is None else str(rid)
        append(Row(rid, day, dom, act, values, skip, None, None, version or ""))
    return out


def distinct_sources(paths: Iterable[str]) -> list[str]:
    """``paths`` as given, after checking that none is named twice (a file replayed twice would
    count each of its decisions twice): local paths compared after resolving, URLs as text.

    Raises:
        ReplayInputError: a log named twice.
    """
    from guardrail import storage as sources
    from guardrail._safety import redact_url
    from guardrail.decisions.table import is_table_url

    seen: dict[str, str] = {}
    out = []
    for p in paths:
        text = str(p)
        key = text if sources.is_url(text) or is_table_url(text) else str(Path(text).resolve())
        if key in seen:
            raise ReplayInputError(
                f"{redact_url(text)}: given twice (also as {redact_url(seen[key])}): its "
                "decisions would count twice"
            )
        seen[key] = text
        out.append(text)
    return out


def replay_files(
    paths: Iterable[str | Path],
    policies: Mapping[str, Policy],
    *,
    labels: Mapping[str, tuple[int, float]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    storage_options: Mapping[str, Any] | None = None,
) -> ReplayAccumulator:
    """Replay every row of ``paths`` (any mix of formats, local files, object-storage URLs and
    decision-log tables; see :func:`iter_chunks`; URL globs expanded) in chunks, in one
    process.

    Raises:
        ReplayInputError: see :func:`iter_chunks`.
    """
    from guardrail import storage as sources

    acc = ReplayAccumulator(policies, labels)
    try:
        expanded = distinct_sources(sources.expand(paths, storage_options))
    except FileNotFoundError as exc:
        raise ReplayInputError(str(exc)) from exc
    for path in expanded:
        for chunk in iter_chunks(path, chunk_rows, storage_options=storage_options):
            acc.add_rows(chunk)
    return acc


def labels_from_store(store: Any, *, page: int = 10_000) -> dict[str, tuple[int, float]]:
    """Request id -> (outcome, sampling rate) for every labelled item of a review store
    (:class:`~guardrail.review.ReviewStore`), read ``page`` items at a time. Spot checks carry
    their ``sampling_rate``; review items have rate 1. ``cannot_judge`` items are left out.
    Memory: one entry per labelled item (labels are the 10-20% spot-checked share)."""
    out: dict[str, tuple[int, float]] = {}
    offset = 0
    while True:
        items = store.list(status="labelled", limit=page, offset=offset)
        for it in items:
            y = _label(it.label.value if it.label is not None else None)
            if y is not None and it.request_id:
                out[it.request_id] = (y, float(it.sampling_rate))
        if len(items) < page:
            return out
        offset += page


def _acc_text(est: dict[str, Any] | None) -> str:
    if est is None:
        return "no labels"
    return f"{est['accuracy']:.3f} [{est['low']:.3f}, {est['high']:.3f}] (n={est['n']})"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|])")
_IDENT = re.compile(r"[A-Za-z0-9_.\-]+")


def _md(text: object) -> str:
    """A name read from a log as inert Markdown: one line, markup characters escaped, no raw
    HTML (a domain such as ``"a\n# x <img onerror=...>"`` cannot add headings or tags)."""
    one = " ".join(str(text).split())
    one = one.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", one)


def _md_code(text: str) -> str:
    """A signal name in a code span when it is a plain identifier, else escaped text."""
    return f"`{text}`" if _IDENT.fullmatch(text) else _md(text)


def mixed_versions_note(versions: Mapping[str, int], quote: Callable[[str], str]) -> str:
    """The warning shown when one domain's rows were logged under several policy versions
    (``quote`` escapes a version read from the log for the output format)."""
    listed = ", ".join(f"{quote(v) if v else 'no version'} ({c} rows)" for v, c in versions.items())
    return (
        f"Logged under {len(versions)} policy versions: {listed}. The *before* column is "
        "their mix, not one policy."
    )


def markdown_report(report: Mapping[str, Any], *, candidate: str, logs: Iterable[str]) -> str:
    """The replay report as a Markdown diff (one section per domain). Domain and signal names
    come from the log: they are written as plain text (markup and HTML escaped, one line).

    Args:
        report: :meth:`ReplayAccumulator.report` output.
        candidate: how to name the candidate policy (its path).
        logs: the log files replayed.
    """
    lines = [
        f"# Policy replay: {candidate}",
        "",
        f"Logs: {', '.join(f'`{x}`' for x in logs)}. Rows: {report['rows']}; "
        f"decisions that change: {report['changed']}.",
        "",
    ]
    for name, d in report["domains"].items():
        b, a = d["before"], d["after"]
        lines += [f"## {_md(name)}", ""]
        if d["no_policy"]:
            lines += ["No candidate policy for this domain: decisions kept as logged.", ""]
        lines += [
            f"{d['rows']} decisions over {d['days']} day(s); {d['changed']} change.",
            "",
            "| | before | after |",
            "|---|---:|---:|",
        ]
        for act in (*ACTIONS, FAILED, UNDETERMINED):
            if b["counts"][act] or a["counts"][act]:
                lines.append(f"| {act} | {b['counts'][act]} | {a['counts'][act]} |")
        lines += [
            f"| review load (items/day) | {b['review_per_day']:.1f} | {a['review_per_day']:.1f} |",
            f"| abstention rate | {b['abstention_rate']:.3f} | {a['abstention_rate']:.3f} |",
            f"| accuracy of shown answers (95% CI) | {_acc_text(b['shown_accuracy'])} "
            f"| {_acc_text(a['shown_accuracy'])} |",
            "",
        ]
        if d["transitions"]:
            lines += ["| change | decisions |", "|---|---:|"]
            lines += [f"| {k.replace('->', ' → ')} | {v} |" for k, v in d["transitions"].items()]
            lines.append("")
        if d["missing_signals"]:
            miss = ", ".join(f"{_md_code(k)} ({v} rows)" for k, v in d["missing_signals"].items())
            lines += [
                f"{d['undetermined']} decision(s) undetermined: the candidate needs signals the "
                f"log does not have: {miss}. Not invented; log them (or replay a log made under "
                "a policy that computes them).",
                "",
            ]
        if d["unlabelled_now_shown"]:
            lines += [
                f"{d['unlabelled_now_shown']} unlabelled review decision(s) would now be shown: "
                "the accuracy after the change does not cover them.",
                "",
            ]
        if len(d["policy_versions"]) > 1:
            lines += [f"{mixed_versions_note(d['policy_versions'], _md)}", ""]
    return "\n".join(lines).rstrip() + "\n"

"""The async audit runner: ask a model each labelled question, elicit confidence from every
requested source, judge the answer, append audit records.

Per question (all calls through the :class:`~guardrail.providers.ChatProvider` protocol):

1. **primary answer**: the question prompt (plus the inline ``Confidence: NN%`` instruction when
   ``verbalized`` is requested) at temperature 0 with the question's seed, log-probs on when
   ``logprob_confidence`` is requested. This answer is judged; every source's record carries
   the same ``correct``.
2. ``verbalized``: parsed from the primary reply's confidence line.
3. ``verbalized_followup``: one more call, the conversation plus "how likely is your previous
   answer correct?".
4. ``consistency``: ``k`` samples of the same prompt at ``sample_temperature`` (seeds
   ``seed+1 ...``); confidence = share agreeing with the primary answer.
5. ``logprob_confidence``: from the primary reply's log-probs.
6. ``hedge_label``: hedge cues of the primary answer text.

Resumable: records go to a JSONL file, appended one question at a time; a re-run skips question
ids already there. Deterministic: the question seed is derived from ``(seed, question id)`` only,
so concurrency and resumption do not change what is asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from guardrail.providers import (
    BadRequestError,
    ChatProvider,
    ChatResult,
    Choice,
    ProviderError,
    Usage,
)
from guardrail.runner.judge import (
    DEFAULT_FUZZY_THRESHOLD,
    LLMJudge,
    answer_line,
    detect_abstention,
    judge_reply,
)
from guardrail.runner.prompts import base_messages, question_prompt
from guardrail.runner.questions import Question, check_unique_ids
from guardrail.runner.records import (
    ALL_SOURCES,
    AuditRecord,
    RecordFileError,
    Source,
    append_records,
    done_question_ids,
    read_records,
    repair_torn_tail,
)
from guardrail.runner.sources import (
    SourceValue,
    answer_token_probability,
    closed_answer_agreement,
    hedge_value,
    option_probability,
    short_answer_agreement,
    verbalized_value,
)


class RunConfig(BaseModel):
    """Settings of one audit run.

    Attributes:
        model: model name passed to the provider (None: the provider's default).
        sources: confidence sources to record (see :data:`guardrail.runner.records.ALL_SOURCES`).
        samples: k for self-consistency (>= 2).
        sample_temperature: temperature of the k samples (the primary answer uses 0).
        max_tokens: cap on the primary answer in tokens (answer + confidence line).
        sample_max_tokens: cap on each self-consistency sample (only its answer line is
            compared, so it can be short).
        followup_max_tokens: cap on the follow-up confidence reply.
        top_logprobs: alternatives per position requested with log-probs (1-20).
        logprob_probe: read log-probs from a separate greedy call (``max_tokens`` 1 for
            multiple choice / label, ``sample_max_tokens`` for short answers) instead of the
            primary answer. Same tokens (greedy, same seed), far less work for llama.cpp, whose
            Python side sorts the whole vocabulary for every generated token that carries
            log-probs (measured: 15 s vs 2.4 s for a 40-token answer on 2 busy cores).
        seed: base seed; each question's seed is derived from it and the question id.
        concurrency: questions in flight at once (>= 1). Use 1 for the embedded model: llama.cpp
            runs one generation at a time anyway, and one question at a time keeps its prompt in
            llama.cpp's prefix cache for the follow-up and the samples. Raise it for HTTP
            servers.
        fuzzy_threshold: rapidfuzz ratio in [0, 100] for short-answer fuzzy matches.
        shuffle_choices: permute multiple-choice options per question (seeded) to control for
            option-position bias.
        llm_judge: ask a judge model about short answers the string rules did not match.
        judge_model: model for the judge (None: same as ``model``).
        confident_at: confidence at or above which a wrong answer counts as "confidently wrong"
            in the abstention summary.
        price_input_per_mtok, price_output_per_mtok: prices (currency units per million tokens)
            for the cost estimate; None leaves cost out.
    """

    model_config = ConfigDict(frozen=True)

    model: str | None = None
    sources: tuple[Source, ...] = ALL_SOURCES
    samples: int = Field(default=5, ge=2, le=64)
    sample_temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    max_tokens: int = Field(default=40, ge=1)
    sample_max_tokens: int = Field(default=12, ge=1)
    followup_max_tokens: int = Field(default=12, ge=1)
    top_logprobs: int = Field(default=10, ge=1, le=20)
    logprob_probe: bool = False
    seed: int = 0
    concurrency: int = Field(default=1, ge=1)
    fuzzy_threshold: float = Field(default=DEFAULT_FUZZY_THRESHOLD, ge=0.0, le=100.0)
    shuffle_choices: bool = False
    llm_judge: bool = False
    judge_model: str | None = None
    confident_at: float = Field(default=0.7, ge=0.0, le=1.0)
    price_input_per_mtok: float | None = Field(default=None, ge=0.0)
    price_output_per_mtok: float | None = Field(default=None, ge=0.0)

    @field_validator("sources")
    @classmethod
    def _sources_unique(cls, value: tuple[Source, ...]) -> tuple[Source, ...]:
        if not value:
            raise ValueError("at least one confidence source is needed")
        return tuple(dict.fromkeys(value))


def question_seed(base: int, question_id: str) -> int:
    """Seed for one question: the first 31 bits of ``sha256(f"{base}:{question_id}")``.

    Depends only on the base seed and the id, so order, concurrency and resumption never change
    it.
    """
    digest = hashlib.sha256(f"{base}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


class SourceSummary(BaseModel):
    """Per-source outcome of a run (over all records in the output file for the questions).

    ``coverage`` is the share of answered questions for which the source had a value;
    ``missing`` counts the reasons it had none.
    """

    source: str
    records: int
    coverage: float
    accuracy: float | None
    mean_confidence: float | None
    missing: dict[str, int] = Field(default_factory=dict)


class AbstentionSummary(BaseModel):
    """Abstention on questions whose honest answer is "unknown" (BIG-bench known_unknowns).

    Attributes:
        unanswerable: number of such questions answered.
        abstained: how many of them the model declined (picked "Unknown" / said so).
        abstention_rate: ``abstained / unanswerable`` (the appropriate behaviour).
        confident_wrong: per source, how many unanswerable questions got a non-abstaining
            answer with confidence >= ``confident_at`` (the harmful case).
        confident_wrong_rate: per source, ``confident_wrong / records of that source``.
        answerable: answerable questions in the same datasets.
        over_abstained: answerable questions the model declined anyway.
    """

    confident_at: float
    unanswerable: int
    abstained: int
    abstention_rate: float | None
    confident_wrong: dict[str, int]
    confident_wrong_rate: dict[str, float | None]
    answerable: int
    over_abstained: int


class RunSummary(BaseModel):
    """What a run did and cost. Token/call counts cover this invocation only; the per-source and
    per-domain figures cover every record of the run's questions in the output file."""

    model: str
    provider: str
    output: str
    questions: int
    skipped_done: int
    answered_now: int
    failed: int
    failures: list[str] = Field(default_factory=list)
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    wall_s: float
    per_source: list[SourceSummary]
    per_domain: dict[str, int]
    abstention: AbstentionSummary | None


class _Counters:
    def __init__(self) -> None:
        self.calls = 0
        self.usage = Usage()
        self.failures: list[str] = []
        self.missing: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, result: ChatResult) -> None:
        self.calls += result.calls
        self.usage = self.usage + result.usage


class AuditRunner:
    """Runs questions through a provider and writes :class:`AuditRecord` lines.

    Args:
        provider: any :class:`~guardrail.providers.ChatProvider`.
        config: :class:`RunConfig`.
        judge_provider: provider for the optional LLM judge (defaults to ``provider``).
    """

    def __init__(
        self,
        provider: ChatProvider,
        config: RunConfig | None = None,
        *,
        judge_provider: ChatProvider | None = None,
    ) -> None:
        self.provider = provider
        self.config = config or RunConfig()
        self._judge: LLMJudge | None = None
        if self.config.llm_judge:
            jp = judge_provider or provider
            jm = self.config.judge_model or self.config.model

            async def call(prompt: str) -> str:
                res = await jp.chat(
                    [{"role": "user", "content": prompt}],
                    model=jm,
                    temperature=0.0,
                    max_tokens=4,
                    seed=0,
                )
                self._counters.add(res)
                return res.text

            self._judge = LLMJudge(call)
        self._counters = _Counters()

    @property
    def model_name(self) -> str:
        return self.config.model or self.provider.default_model or "unknown"

    async def _chat(self, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
        result = await self.provider.chat(messages, model=self.config.model, **kwargs)
        self._counters.add(result)
        return result

    async def _logprob_probe(
        self, question: Question, messages: list[dict[str, str]], seed: int
    ) -> Choice | None:
        """Greedy call with log-probs, as short as the source needs (see ``logprob_probe``)."""
        cfg = self.config
        tokens = cfg.sample_max_tokens if question.kind == "short_answer" else 1
        try:
            probe = await self._chat(
                messages,
                n=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=cfg.top_logprobs,
                seed=seed,
                max_tokens=tokens,
            )
        except ProviderError:
            return None
        return probe.choices[0] if probe.choices else None

    async def ask(self, question: Question) -> list[AuditRecord]:
        """Ask one question and return its records (one per source that had a value).

        Raises:
            ProviderError: the primary answer could not be obtained (the caller records the
                failure; nothing is written for this question).
        """
        from guardrail.signals.verbalized import (
            followup_messages,
            inline_messages,
            strip_confidence_line,
        )

        cfg = self.config
        if cfg.shuffle_choices:
            question = question.with_shuffled_choices(cfg.seed)
        seed = question_seed(cfg.seed, question.id)
        sources = set(cfg.sources)
        messages = base_messages(question)
        if "verbalized" in sources:
            messages = inline_messages(messages)
        want_lp = "logprob_confidence" in sources and not cfg.logprob_probe
        try:
            primary = await self._chat(
                messages,
                n=1,
                temperature=0.0,
                logprobs=want_lp,
                top_logprobs=cfg.top_logprobs if want_lp else None,
                seed=seed,
                max_tokens=cfg.max_tokens,
            )
        except BadRequestError:
            if not want_lp:
                raise
            # Some servers refuse log-probs: answer without them, the source goes missing.
            primary = await self._chat(
                messages, n=1, temperature=0.0, seed=seed, max_tokens=cfg.max_tokens
            )
        if not primary.choices:
            raise ProviderError("no answer returned")
        choice = primary.choices[0]
        reply = choice.text
        judgement = judge_reply(question, reply, fuzzy_threshold=cfg.fuzzy_threshold)
        if self._judge is not None:
            judgement = await self._judge.judge(question, reply, judgement)
        abstained = detect_abstention(question, reply, judgement)
        asked = question_prompt(question)  # the question as the model saw it, options included
        shown = strip_confidence_line(reply, question=asked)

        values: dict[str, SourceValue] = {}
        hedge_label: str | None = None
        if "verbalized" in sources:
            values["verbalized"] = verbalized_value(reply, mode="inline", question=asked)
        if "verbalized_followup" in sources:
            try:
                follow = await self._chat(
                    followup_messages(messages, shown or reply),
                    n=1,
                    temperature=0.0,
                    seed=seed,
                    max_tokens=cfg.followup_max_tokens,
                )
                v = verbalized_value(follow.text, mode="followup", question=asked)
                v.evidence["reply"] = follow.text[:200]
                values["verbalized_followup"] = v
            except ProviderError as exc:
                values["verbalized_followup"] = SourceValue(reason=f"follow-up call failed: {exc}")
        if "consistency" in sources:
            try:
                sampled = await self._chat(
                    messages,
                    n=cfg.samples,
                    temperature=cfg.sample_temperature,
                    seed=seed + 1,
                    max_tokens=cfg.sample_max_tokens,
                )
                texts = [c.text for c in sampled.choices]
                if question.kind == "short_answer":
                    values["consistency"] = short_answer_agreement(
                        reply, texts, question=question.question
                    )
                else:
                    values["consistency"] = closed_answer_agreement(question, judgement, texts)
                if sampled.failed:
                    values["consistency"].evidence["failed_samples"] = sampled.failed
            except ProviderError as exc:
                values["consistency"] = SourceValue(reason=f"sampling failed: {exc}")
        if "logprob_confidence" in sources:
            lp_choice: Choice | None = choice
            if cfg.logprob_probe:
                lp_choice = await self._logprob_probe(question, messages, seed)
            if lp_choice is None:
                values["logprob_confidence"] = SourceValue(reason="log-prob probe call failed")
            elif question.kind == "short_answer":
                values["logprob_confidence"] = answer_token_probability(lp_choice)
            else:
                values["logprob_confidence"] = option_probability(
                    question, lp_choice, judgement.parsed
                )
        if "hedge_label" in sources:
            values["hedge_label"], hedge_label = hedge_value(shown or reply)

        missing = {s: v.reason or "no value" for s, v in values.items() if v.value is None}
        for s, why in missing.items():
            self._counters.missing[s][why] += 1
        common: dict[str, Any] = {
            "question_id": question.id,
            "correct": judgement.correct,
            "domain": question.domain,
            "dataset": question.dataset,
            "question": question.question,
            "answer": judgement.parsed or answer_line(reply),
            "reference": question.reference,
            "model": primary.model or self.model_name,
            "provider": primary.provider,
            "reply": reply,
            "judged_by": judgement.method,
            "judge_detail": judgement.detail,
            "answerable": question.answerable,
            "abstained": abstained,
            "hedge_label": hedge_label,
            "missing": missing,
            "seed": seed,
        }
        records: list[AuditRecord] = []
        for source in cfg.sources:
            got = values.get(source)
            if got is None or got.value is None:
                continue
            records.append(
                AuditRecord(
                    id=f"{question.id}#{source}",
                    source=source,
                    confidence=got.value,
                    evidence=got.evidence,
                    **common,
                )
            )
        return records

    async def run(
        self,
        questions: Sequence[Question],
        output: str | Path,
        *,
        progress: bool = True,
        console: Console | None = None,
        on_question: Callable[[Question, list[AuditRecord]], None] | None = None,
    ) -> RunSummary:
        """Ask every question not yet in ``output`` and append its records; return the summary.

        Raises:
            QuestionFileError: duplicate question ids.
            RecordFileError: ``output`` exists but holds lines that are not audit records, or
                cannot be created/appended to.
        """
        check_unique_ids(questions)
        output = Path(output)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("a", encoding="utf-8"):
                pass  # fail before asking anything when the records cannot be written
        except OSError as exc:
            raise RecordFileError(f"{output}: cannot write audit records ({exc})") from exc
        torn = repair_torn_tail(output)
        if torn and console is not None:
            console.print(f"[yellow]removed a torn last line ({torn} bytes) from {output}[/]")
        done = done_question_ids(read_records(output))
        todo = [q for q in questions if q.id not in done]
        self._counters = _Counters()
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(self.config.concurrency)
        write_lock = asyncio.Lock()
        answered = 0

        bar = Progress(
            TextColumn("[bold]audit run"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("questions"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not progress,
            transient=False,
        )

        async def one(q: Question, task_id: Any) -> None:
            nonlocal answered
            async with semaphore:
                try:
                    records = await self.ask(q)
                except (ProviderError, ValueError) as exc:
                    self._counters.failures.append(f"{q.id}: {type(exc).__name__}: {exc}")
                    bar.advance(task_id)
                    return
                async with write_lock:
                    append_records(output, records)
                answered += 1
                if on_question is not None:
                    on_question(q, records)
                bar.advance(task_id)

        with bar:
            task_id = bar.add_task("audit", total=len(todo))
            await asyncio.gather(*(one(q, task_id) for q in todo))

        return self._summarise(questions, output, len(questions) - len(todo), answered, started)

    def _summarise(
        self,
        questions: Sequence[Question],
        output: Path,
        skipped: int,
        answered: int,
        started: float,
    ) -> RunSummary:
        cfg = self.config
        wanted = {q.id for q in questions}
        records = [r for r in read_records(output) if r.question_id in wanted]
        answered_ids = {r.question_id for r in records}
        by_source: dict[str, list[AuditRecord]] = defaultdict(list)
        for r in records:
            by_source[r.source].append(r)
        per_source: list[SourceSummary] = []
        n_answered = len(answered_ids)
        missing_all: dict[str, Counter[str]] = defaultdict(Counter)
        seen_missing: set[tuple[str, str]] = set()
        for r in records:
            for s, why in r.missing.items():
                if (r.question_id, s) not in seen_missing:
                    seen_missing.add((r.question_id, s))
                    missing_all[s][why] += 1
        for source in cfg.sources:
            rs = by_source.get(source, [])
            per_source.append(
                SourceSummary(
                    source=source,
                    records=len(rs),
                    coverage=len(rs) / n_answered if n_answered else 0.0,
                    accuracy=sum(r.correct for r in rs) / len(rs) if rs else None,
                    mean_confidence=sum(r.confidence for r in rs) / len(rs) if rs else None,
                    missing=dict(missing_all.get(source, Counter()).most_common()),
                )
            )
        domain_of = {r.question_id: r.domain for r in records}
        per_domain = Counter(domain_of[qid] for qid in answered_ids)
        usage = self._counters.usage
        cost: float | None = None
        if cfg.price_input_per_mtok is not None or cfg.price_output_per_mtok is not None:
            cost = (
                usage.input_tokens * (cfg.price_input_per_mtok or 0.0)
                + usage.output_tokens * (cfg.price_output_per_mtok or 0.0)
            ) / 1_000_000
        return RunSummary(
            model=self.model_name,
            provider=self.provider.name,
            output=str(output),
            questions=len(questions),
            skipped_done=skipped,
            answered_now=answered,
            failed=len(self._counters.failures),
            failures=self._counters.failures,
            calls=self._counters.calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
            wall_s=round(time.perf_counter() - started, 3),
            per_source=per_source,
            per_domain=dict(sorted(per_domain.items())),
            abstention=abstention_summary(records, cfg.confident_at),
        )


def abstention_summary(
    records: Sequence[AuditRecord], confident_at: float = 0.7
) -> AbstentionSummary | None:
    """Abstention figures over the datasets that contain unanswerable questions; None if none.

    Per question (not per record): abstained or not; per source: confident-wrong counts.
    """
    datasets = {r.dataset for r in records if not r.answerable}
    if not datasets:
        return None
    scoped = [r for r in records if r.dataset in datasets]
    per_question: dict[str, AuditRecord] = {}
    for r in scoped:
        per_question.setdefault(r.question_id, r)
    unanswerable = [r for r in per_question.values() if not r.answerable]
    answerable = [r for r in per_question.values() if r.answerable]
    abstained = sum(r.abstained for r in unanswerable)
    cw: dict[str, int] = defaultdict(int)
    n_src: dict[str, int] = defaultdict(int)
    for r in scoped:
        if r.answerable:
            continue
        n_src[r.source] += 1
        if not r.abstained and not r.correct and r.confidence >= confident_at:
            cw[r.source] += 1
    return AbstentionSummary(
        confident_at=confident_at,
        unanswerable=len(unanswerable),
        abstained=abstained,
        abstention_rate=abstained / len(unanswerable) if unanswerable else None,
        confident_wrong={s: cw.get(s, 0) for s in sorted(n_src)},
        confident_wrong_rate={
            s: (cw.get(s, 0) / n_src[s] if n_src[s] else None) for s in sorted(n_src)
        },
        answerable=len(answerable),
        over_abstained=sum(r.abstained for r in answerable),
    )

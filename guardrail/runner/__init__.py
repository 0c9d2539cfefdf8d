"""The audit runner behind ``guardrail audit run``: load labelled questions, ask a model through
any :class:`~guardrail.providers.ChatProvider`, record one confidence per source, judge the
answer, write audit records that ``guardrail audit report`` reads, and recommend thresholds.

See ``docs/audit-run.md``.
"""

from guardrail.runner.judge import Judgement, LLMJudge, judge_reply
from guardrail.runner.questions import Question, QuestionFileError, load_questions, sample_questions
from guardrail.runner.recommend import Recommendation, policy_snippet, recommend_thresholds
from guardrail.runner.records import ALL_SOURCES, AuditRecord, read_records
from guardrail.runner.run import AuditRunner, RunConfig, RunSummary

__all__ = [
    "ALL_SOURCES",
    "AuditRecord",
    "AuditRunner",
    "Judgement",
    "LLMJudge",
    "Question",
    "QuestionFileError",
    "Recommendation",
    "RunConfig",
    "RunSummary",
    "judge_reply",
    "load_questions",
    "policy_snippet",
    "read_records",
    "recommend_thresholds",
    "sample_questions",
]

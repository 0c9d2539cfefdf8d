"""Prompts the audit runner sends (our wording; the confidence templates come from
:mod:`guardrail.signals.verbalized`).

The answer format is stated up front so the answer can be judged from the reply's first line:
the option letter for multiple choice, one label word for label tasks, a short phrase for
short-answer questions.
"""

from __future__ import annotations

from guardrail.runner.questions import Question

MC_FORMAT = "Reply with the letter of the correct option ({letters}) on the first line."
LABEL_FORMAT = "Reply with one word on the first line: {labels}."
SHORT_FORMAT = "Reply with a short answer (a few words) on the first line."


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def question_prompt(question: Question) -> str:
    """The user message for ``question``: instruction, question, options, answer format.

    Example (multiple choice)::

        Question: Which organ produces insulin?
        A. Liver
        B. Pancreas

        Reply with the letter of the correct option (A or B) on the first line.
    """
    parts: list[str] = []
    if question.instruction:
        parts.append(question.instruction)
    if question.kind == "multiple_choice":
        options = "\n".join(
            f"{letter}. {text}"
            for letter, text in zip(question.letters, question.choices, strict=True)
        )
        parts.append(f"Question: {question.question}\n{options}")
        parts.append(MC_FORMAT.format(letters=_or_list(list(question.letters))))
    elif question.kind == "label":
        parts.append(question.question)
        parts.append(LABEL_FORMAT.format(labels=_or_list(list(question.choices))))
    else:
        parts.append(f"Question: {question.question}")
        parts.append(SHORT_FORMAT)
    return "\n\n".join(parts)


def base_messages(question: Question) -> list[dict[str, str]]:
    """``[{"role": "user", "content": question_prompt(question)}]``."""
    return [{"role": "user", "content": question_prompt(question)}]

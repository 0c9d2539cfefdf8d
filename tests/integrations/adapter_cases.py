"""Shared cases of the adapter tests: the QA policy whose four outcomes depend on consistency
alone, the expected results for the answer "Paris.", and a review store that is down. (A plain
module, not conftest.py: several test folders have a conftest, so `from conftest import` would
depend on collection order.)"""

from __future__ import annotations

from guardrail.review import InMemoryReviewStore, ReviewItem

#: Four outcomes decided by consistency alone (samples agreeing with the answer / 4):
#: 4/4 = 1.0 -> no rule -> pass; 3/4 = 0.75 -> only `mostly` -> notice;
#: 2/4 = 0.5 -> `shaky` and `mostly` -> review (the most severe matched action wins);
#: 1/4 = 0.25 -> all three -> abstain.
QA = """
policy qa {
  on_missing review
  signals {
    samples 4 temperature 0.9
  }
  rule unstable {
    when consistency < 0.5
    then abstain "I can't answer this reliably."
  }
  rule shaky {
    when consistency < 0.75
    then review "A person will check this answer."
  }
  rule mostly {
    when consistency < 1.0
    then notice "Check important facts."
  }
  otherwise pass
}
"""

#: (samples, action, status, shown text, finish_reason) for the answer "Paris.".
CASES = [
    (["Paris.", "Paris.", "Paris.", "Paris."], "pass", "answered", "Paris.", "stop"),
    (
        ["Paris.", "Paris.", "Paris.", "Lyon."],
        "notice",
        "answered",
        "Paris.\n\nCheck important facts.",
        "stop",
    ),
    (
        ["Paris.", "Paris.", "Lyon.", "Nice."],
        "review",
        "pending_review",
        "A person will check this answer.",
        "content_filter",
    ),
    (
        ["Paris.", "Lyon.", "Nice.", "Lille."],
        "abstain",
        "abstained",
        "I can't answer this reliably.",
        "content_filter",
    ),
]
CASE_IDS = [c[1] for c in CASES]


class DownStore(InMemoryReviewStore):
    """A review store that refuses every item (a database that is down)."""

    def enqueue(self, item: ReviewItem) -> str:
        raise ConnectionError("review database unreachable")


#: abstains when the answer's mean token probability exp(mean log-prob) is below 0.5; needs no
#: model call by the guard (the log-probs come with the answer the framework received)
LOGPROB_POLICY = """
policy lp {
  signals {
    logprobs
  }
  rule unsure {
    when logprob_confidence < 0.5
    then abstain "Not sure."
  }
  otherwise pass
}
"""

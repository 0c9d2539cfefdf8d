"""One test suite, every back end: in-memory, SQLite and PostgreSQL (``backend`` fixture).

The expected values are worked out by hand from the ``ReviewStore`` contract in
``guardrail/review/store.py`` (oldest first, lease expiry, label rules).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from review_testlib import FakeClock, StoreFactory

from guardrail.review import (
    AlreadyLabelled,
    ClaimConflict,
    DuplicateItem,
    ItemNotFound,
    RegexRedactor,
    ReviewItem,
    ReviewLabel,
    ReviewReason,
    ReviewStatus,
    ReviewStore,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def item(n: int, **kw: object) -> ReviewItem:
    """Item number ``n``, created ``n`` minutes after T0 (so ids order like times)."""
    base: dict[str, object] = {
        "id": f"item-{n:03d}",
        "created_at": T0 + timedelta(minutes=n),
        "domain": "medical",
        "policy_name": "medical",
        "policy_version": "sha256:abc",
        "question": f"question {n}",
        "answer_shown": f"answer {n}",
        "raw_answer": f"raw {n}",
        "decision": "review",
        "signals": {"verbalized": 0.95, "consistency": 0.55, "hedges": 0},
        "explanation": ["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30"],
    }
    base.update(kw)
    return ReviewItem.model_validate(base)


def test_round_trip_keeps_every_field(make_store: StoreFactory) -> None:
    store = make_store()
    original = item(
        1,
        request_id="req-1",
        created_at=datetime(2026, 11, 1, 9, 1, 2, 345678, tzinfo=UTC),
        question="Dosis für Kinder? 小儿剂量 — \u2019quotes\u2019",
        signals={
            "verbalized": 0.1 + 0.2,
            "hedges": 3,
            "hedge_label": "assertive",
            "agreement": None,
        },
        reason=ReviewReason.SPOT_CHECK,
        decision="pass",
        sampling_rate=0.1,
    )
    assert store.enqueue(original) == "item-001"
    got = store.get("item-001")
    assert got.created_at == original.created_at  # microseconds survive
    assert got.signals == {"verbalized": 0.30000000000000004, "hedges": 3,
                           "hedge_label": "assertive", "agreement": None}  # fmt: skip
    assert got.model_dump(exclude={"status"}) == original.model_dump(exclude={"status"})
    assert got.status is ReviewStatus.PENDING


def test_reads_are_copies(make_store: StoreFactory) -> None:
    # what get/list/claim/label return belongs to the caller: editing it in place (the signals
    # dict and explanation list included) never changes the stored item
    store = make_store()
    store.enqueue(item(1))
    for got in (store.get("item-001"), store.list()[0], store.claim("ann")[0]):
        got.signals["verbalized"] = 0.0
        got.explanation.append("edited")
    labelled = store.label("item-001", "correct", reviewer="ann")
    labelled.signals.clear()
    again = store.get("item-001")
    assert again.signals == {"verbalized": 0.95, "consistency": 0.55, "hedges": 0}
    assert again.explanation == ["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30"]


def test_out_of_range_times_are_clear_errors(make_store: StoreFactory) -> None:
    # a lease whose expiry would pass year 9999, an age older than year 1, naive list windows
    store = make_store()
    store.enqueue(item(1))
    with pytest.raises(ValueError, match="lease must be at most 36525 days"):
        store.claim("ann", lease=timedelta(days=10**6))
    with pytest.raises(ValueError, match="lease must be at most"):
        store.claim_item("item-001", "ann", lease=timedelta.max)
    assert store.expire_stale(timedelta.max) == 0  # nothing is older than year 1
    assert store.get("item-001").status is ReviewStatus.PENDING
    with pytest.raises(ValueError, match="since must be a timezone-aware datetime"):
        store.list(since=datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="until must be a timezone-aware"):
        store.list(until=datetime(2026, 11, 1))
    assert [it.id for it in store.list(since=T0)] == ["item-001"]


def test_enqueue_resets_review_state(make_store: StoreFactory) -> None:
    store = make_store()
    sneaky = item(1, status="labelled", label="correct", reviewer="x", note="n")
    store.enqueue(sneaky)
    got = store.get("item-001")
    assert (got.status, got.label, got.reviewer, got.note) == (
        ReviewStatus.PENDING,
        None,
        None,
        None,
    )


def test_default_id_is_generated(make_store: StoreFactory) -> None:
    store = make_store()
    new_id = store.enqueue(ReviewItem(domain="legal", decision="review"))
    assert len(new_id) == 32 and store.get(new_id).domain == "legal"


def test_duplicate_id_is_refused_and_original_kept(make_store: StoreFactory) -> None:
    store = make_store()
    store.enqueue(item(1))
    with pytest.raises(DuplicateItem):
        store.enqueue(item(1, question="other"))
    assert store.get("item-001").question == "question 1"
    assert store.count() == 1


def test_unknown_id(make_store: StoreFactory) -> None:
    store = make_store()
    with pytest.raises(ItemNotFound):
        store.get("nope")
    with pytest.raises(KeyError):  # ItemNotFound is also a KeyError
        store.label("nope", "correct", reviewer="ann")


def test_list_filters_and_order(make_store: StoreFactory) -> None:
    store = make_store()
    for n in (3, 1, 2, 4):  # inserted out of order
        kw: dict[str, object] = {}
        if n == 2:
            kw = {"domain": "legal"}
        if n == 4:
            kw = {"reason": "spot_check", "sampling_rate": 0.2, "decision": "pass"}
        store.enqueue(item(n, **kw))
    assert [i.id for i in store.list()] == ["item-001", "item-002", "item-003", "item-004"]
    assert [i.id for i in store.list(domain="legal")] == ["item-002"]
    assert [i.id for i in store.list(reason="spot_check")] == ["item-004"]
    assert [i.id for i in store.list(since=T0 + timedelta(minutes=2))] == [
        "item-002", "item-003", "item-004"]  # fmt: skip
    assert [i.id for i in store.list(until=T0 + timedelta(minutes=2))] == ["item-001"]
    assert [i.id for i in store.list(limit=2, offset=1)] == ["item-002", "item-003"]
    assert store.count(status="pending") == 4
    assert store.count(domain="medical", reason="review") == 2
    with pytest.raises(ValueError):
        store.list(status="done")


def test_claim_oldest_first_and_exclusive(make_store: StoreFactory) -> None:
    store = make_store()
    for n in range(1, 6):
        store.enqueue(item(n, domain="legal" if n == 2 else "medical"))
    first = store.claim("ann", limit=2)
    assert [i.id for i in first] == ["item-001", "item-002"]
    assert all(i.status is ReviewStatus.CLAIMED and i.reviewer == "ann" for i in first)
    assert [i.id for i in store.claim("bob")] == ["item-003"]
    assert store.claim("bob", domain="legal") == []  # item-002 is ann's
    assert [i.id for i in store.claim("cat", limit=10)] == ["item-004", "item-005"]
    assert store.claim("dan") == []
    assert store.count(status="claimed") == 5


def test_claim_expires_and_returns_to_queue(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store(lease=timedelta(minutes=10))
    store.enqueue(item(1))
    (claimed,) = store.claim("ann")
    assert claimed.claim_expires_at == clock.now + timedelta(minutes=10)
    clock.advance(minutes=9, seconds=59)
    assert store.claim("bob") == []
    clock.advance(seconds=1)  # exactly at expiry the claim has lapsed
    (again,) = store.claim("bob")
    assert again.id == "item-001" and again.reviewer == "bob"
    # ann's lapsed claim is gone: she cannot release it, and bob now blocks her label.
    with pytest.raises(ClaimConflict):
        store.release("item-001", "ann")
    with pytest.raises(ClaimConflict):
        store.label("item-001", "correct", reviewer="ann")


def test_lapsed_claims_show_as_pending(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store()
    store.enqueue(item(1))
    store.claim("ann", lease=timedelta(seconds=30))
    assert store.count(status="claimed") == 1
    clock.advance(seconds=31)
    assert store.count(status="claimed") == 0
    assert [i.status for i in store.list()] == [ReviewStatus.PENDING]


def test_claim_item_release_and_renew(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store()
    store.enqueue(item(1))
    store.enqueue(item(2))
    got = store.claim_item("item-002", "ann")
    assert got.reviewer == "ann"
    with pytest.raises(ClaimConflict, match="claimed by ann"):
        store.claim_item("item-002", "bob")
    clock.advance(minutes=5)
    renewed = store.claim_item("item-002", "ann")
    assert renewed.claim_expires_at == clock.now + timedelta(minutes=15)
    with pytest.raises(ClaimConflict):
        store.release("item-002", "bob")
    assert store.release("item-002", "ann").status is ReviewStatus.PENDING
    assert [i.id for i in store.claim("bob", limit=5)] == ["item-001", "item-002"]
    with pytest.raises(ItemNotFound):
        store.claim_item("nope", "ann")


def test_label_rules(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store()
    for n in (1, 2, 3):
        store.enqueue(item(n))
    # A pending item can be labelled directly.
    done = store.label("item-001", "correct", reviewer="ann", note="checked BNF")
    assert (done.status, done.label, done.reviewer, done.note, done.labelled_at) == (
        ReviewStatus.LABELLED, ReviewLabel.CORRECT, "ann", "checked BNF", clock.now)  # fmt: skip
    with pytest.raises(AlreadyLabelled):
        store.label("item-001", "incorrect", reviewer="bob")
    redo = store.label("item-001", "incorrect", reviewer="bob", overwrite=True,
                       corrected_answer="10 mg/kg")  # fmt: skip
    assert (redo.label, redo.reviewer, redo.corrected_answer) == (
        ReviewLabel.INCORRECT, "bob", "10 mg/kg")  # fmt: skip
    # Claimed by someone else: refused until the claim lapses.
    store.claim_item("item-002", "ann", lease=timedelta(minutes=1))
    with pytest.raises(ClaimConflict):
        store.label("item-002", "correct", reviewer="bob")
    assert store.label("item-002", "partially", reviewer="ann").label is ReviewLabel.PARTIALLY
    store.claim_item("item-003", "ann", lease=timedelta(minutes=1))
    clock.advance(minutes=2)
    assert store.label("item-003", "cannot judge", reviewer="bob").label is ReviewLabel.CANNOT_JUDGE
    with pytest.raises(ValueError, match="expected one of"):
        store.label("item-003", "maybe", reviewer="bob", overwrite=True)
    assert store.get("item-003").label is ReviewLabel.CANNOT_JUDGE  # bad input lost nothing
    assert store.count(status="labelled") == 3
    assert store.claim("cat") == []  # labelled items are never claimable


def test_expire_stale(make_store: StoreFactory, clock: FakeClock) -> None:
    store = make_store()
    clock.now = T0 + timedelta(days=8)
    store.enqueue(item(1))  # created T0+1min: 8 days old
    store.enqueue(item(2))
    store.enqueue(item(3, created_at=T0 + timedelta(days=7, hours=12)))  # 12 h old
    store.claim_item("item-002", "ann")
    assert store.expire_stale(timedelta(days=7)) == 1  # only the pending old one
    assert store.get("item-001").status is ReviewStatus.EXPIRED
    assert store.get("item-002").status is ReviewStatus.CLAIMED
    assert [i.id for i in store.claim("bob", limit=5)] == ["item-003"]
    with pytest.raises(ClaimConflict, match="expired"):
        store.claim_item("item-001", "bob")
    # A late label on an expired item is still accepted.
    assert store.label("item-001", "correct", reviewer="bob").status is ReviewStatus.LABELLED


def test_redaction_hook_runs_before_storage(make_store: StoreFactory) -> None:
    store = make_store(redact=RegexRedactor())
    store.enqueue(item(1, question="I am jo@example.org, call +44 20 7946 0958",
                       answer_shown="Card 4111 1111 1111 1111 noted."))  # fmt: skip
    got = store.get("item-001")
    assert got.question == "I am [EMAIL], call [PHONE]"
    assert got.answer_shown == "Card [NUMBER] noted."
    labelled = store.label("item-001", "incorrect", reviewer="ann",
                           corrected_answer="write to jo@example.org")  # fmt: skip
    assert labelled.corrected_answer == "write to [EMAIL]"


def test_failing_redactor_stores_nothing(make_store: StoreFactory) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("redaction service down")

    store = make_store(redact=broken)
    with pytest.raises(RuntimeError):
        store.enqueue(item(1))
    assert store.count() == 0


def test_redactor_returning_no_text_stores_nothing(make_store: StoreFactory) -> None:
    # a hook that returns None or a number (a bug in the hook): the in-memory store kept the
    # int as the item's question (a ReviewItem whose question is 42); now a clear TypeError and
    # nothing stored, as for a hook that raises
    for bad in (None, 42):
        store = make_store(redact=lambda text, bad=bad: bad)
        with pytest.raises(TypeError, match="redaction hook must return a str"):
            store.enqueue(item(1))
        assert store.count() == 0


def test_content_storage_off(make_store: StoreFactory) -> None:
    store = make_store(store_content=False)
    store.enqueue(item(1))
    got = store.get("item-001")
    assert (got.question, got.answer_shown, got.raw_answer) == (None, None, None)
    assert got.signals["verbalized"] == 0.95 and got.decision == "review"
    labelled = store.label("item-001", "incorrect", reviewer="ann", corrected_answer="x")
    assert labelled.corrected_answer is None and labelled.label is ReviewLabel.INCORRECT


def test_bad_arguments(make_store: StoreFactory) -> None:
    store = make_store()
    store.enqueue(item(1))
    with pytest.raises(ValueError):
        store.claim("  ")
    with pytest.raises(ValueError):
        store.claim("ann", limit=0)
    with pytest.raises(ValueError):
        store.claim("ann", lease=timedelta(0))
    assert store.get("item-001").status is ReviewStatus.PENDING


def test_two_instances_share_one_queue_without_double_claims(make_store: StoreFactory) -> None:
    """Several store instances (as several app instances would open) on the same storage, each
    claimed from by its own thread: every item is claimed exactly once."""
    stores: list[ReviewStore] = [make_store(clock=None) for _ in range(3)]
    for n in range(60):
        stores[n % 3].enqueue(item(n))
    got: list[list[str]] = [[] for _ in stores]

    def worker(k: int) -> None:
        while batch := stores[k].claim(f"reviewer-{k}", limit=2):
            got[k].extend(i.id for i in batch)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for ids in got for i in ids]
    assert sorted(claimed) == [f"item-{n:03d}" for n in range(60)]  # each exactly once


def test_store_satisfies_protocol(make_store: StoreFactory) -> None:
    assert isinstance(make_store(), ReviewStore)


def test_label_note_with_nul_and_lone_surrogate_is_stored_cleaned(make_store: StoreFactory) -> None:
    """Issue 12 finding 1: a NUL in text raised psycopg.DataError from the PostgreSQL store; a
    label's note and corrected answer are cleaned like the item's content (U+FFFD for each bad
    character, so the lengths stay: 'ok\\x00\\ud800' -> 'ok' + 2 x U+FFFD)."""
    store = make_store()
    store.enqueue(item(1))
    store.claim("ann")
    done = store.label(
        "item-001", "correct", reviewer="ann", note="ok\x00\ud800", corrected_answer="a\x00"
    )
    assert done.note == "ok\ufffd\ufffd"
    assert done.corrected_answer == "a\ufffd"
    assert store.get("item-001").note == "ok\ufffd\ufffd"


def test_list_refuses_negative_paging_on_every_store(make_store: StoreFactory) -> None:
    # limit=-1 used to return all 3 items on SQLite, the first 2 in memory (a slice [0:-1]) and
    # an SQL error on PostgreSQL; offset=-1 returned all 3 on SQLite and only the last in memory
    store = make_store()
    for n in (1, 2, 3):
        store.enqueue(item(n))
    with pytest.raises(ValueError, match="limit must be >= 0"):
        store.list(limit=-1)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        store.list(offset=-1)
    assert store.list(limit=0) == []
    assert [it.id for it in store.list(limit=2, offset=1)] == ["item-002", "item-003"]


def test_reviewer_names_are_stored_like_other_text(make_store: StoreFactory) -> None:
    # a NUL or a lone surrogate in a reviewer's name: SQLite's encoder refused the surrogate
    # (UnicodeEncodeError on label), the in-memory store kept both raw; now U+FFFD everywhere,
    # as ReviewItem's validator does for every other text field
    store = make_store()
    store.enqueue(item(1))
    store.enqueue(item(2))
    claimed = store.claim(" ann\x00b ")
    assert [c.reviewer for c in claimed] == ["ann\ufffdb"]
    assert store.get("item-001").reviewer == "ann\ufffdb"
    done = store.label("item-002", "correct", reviewer="r\ud800")
    assert done.reviewer == "r\ufffd"
    assert store.get("item-002").reviewer == "r\ufffd"

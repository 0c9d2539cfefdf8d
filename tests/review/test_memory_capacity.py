"""The default in-memory store is bounded (issue 17.1): oldest-first eviction, warning, counter."""

from __future__ import annotations

import warnings

import pytest

from guardrail import Guard
from guardrail.review import (
    DEFAULT_MEMORY_CAPACITY,
    InMemoryReviewStore,
    ItemNotFound,
    ReviewItem,
    ReviewQueueFullWarning,
    open_store,
)


def test_default_capacity_is_documented_value() -> None:
    assert DEFAULT_MEMORY_CAPACITY == 10_000
    assert InMemoryReviewStore().capacity == DEFAULT_MEMORY_CAPACITY
    assert open_store("memory:", capacity=3).capacity == 3  # type: ignore[attr-defined]


def test_oldest_items_are_evicted_with_one_warning_and_a_count() -> None:
    store = InMemoryReviewStore(capacity=3)
    for i in range(3):
        store.enqueue(ReviewItem(id=f"q{i}"))
    assert store.evicted == 0
    store.claim("ann")  # q0 is claimed: eviction is by enqueue order, whatever the status
    with pytest.warns(ReviewQueueFullWarning, match="full \\(3 items\\)"):
        store.enqueue(ReviewItem(id="q3"))
    assert store.evicted == 1
    with pytest.raises(ItemNotFound):
        store.get("q0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per store, not on every eviction
        store.enqueue(ReviewItem(id="q4"))
        store.enqueue(ReviewItem(id="q5"))
    assert store.evicted == 3
    assert [it.id for it in store.list()] == ["q3", "q4", "q5"]
    assert store.count() == 3


def test_updates_do_not_change_eviction_order() -> None:
    store = InMemoryReviewStore(capacity=2)
    store.enqueue(ReviewItem(id="a"))
    store.enqueue(ReviewItem(id="b"))
    store.label("a", "correct", reviewer="ann")  # rewriting an item keeps its queue position
    with pytest.warns(ReviewQueueFullWarning):
        store.enqueue(ReviewItem(id="c"))
    assert [it.id for it in store.list()] == ["b", "c"]


def test_unbounded_and_bad_capacity() -> None:
    store = InMemoryReviewStore(capacity=None)
    for i in range(50):
        store.enqueue(ReviewItem(id=f"x{i}"))
    assert store.count() == 50 and store.evicted == 0
    for bad in (0, -1, True, 1.5, "3"):
        with pytest.raises(ValueError, match="capacity"):
            InMemoryReviewStore(capacity=bad)  # type: ignore[arg-type]


def test_guard_default_store_is_bounded() -> None:
    from guardrail.policy import parse_policy

    policy = parse_policy("policy general {\n  otherwise pass\n}\n", "g.guard")
    guard = Guard({"general": policy}, provider=None)
    assert isinstance(guard.review_store, InMemoryReviewStore)
    assert guard.review_store.capacity == DEFAULT_MEMORY_CAPACITY


def _rich_item() -> ReviewItem:
    return ReviewItem(
        id="rich",
        domain="medical",
        question="Dose for a 7-year-old? " + "détail ✓ 🩺 " * 400,  # ~5,000 characters
        answer_shown="Ask a clinician.",
        raw_answer="250 mg every 8 hours.",
        signals={"verbalized": 0.1 + 0.2, "samples": 7, "refusal": False, "kind": "answer"},
        explanation=["rule confident_unhedged: verbalized 0.3 >= 0.9"],
    )


def test_items_round_trip_exactly_and_reads_are_deep_copies() -> None:
    # the store keeps items serialized (docs/review.md): what comes back must equal what went in,
    # floats bit for bit (0.1 + 0.2 is 0.30000000000000004, not 0.3)
    store = InMemoryReviewStore()
    item = _rich_item()
    store.enqueue(item)
    got = store.get("rich")
    assert got == item
    assert got.signals["verbalized"] == 0.30000000000000004
    # changing a returned item in place (its dict and list too) leaves the stored one alone
    got.signals["verbalized"] = 0.0
    got.explanation.append("edited")
    again = store.get("rich")
    assert again.signals["verbalized"] == 0.30000000000000004
    assert again.explanation == item.explanation
    labelled = store.label("rich", "correct", reviewer="ann", note="checked")
    assert store.list()[0] == labelled and labelled.question == item.question


def test_items_are_stored_in_equal_pieces() -> None:
    # the property behind the flat memory of a full store (bench/bench_review_memory.py): every
    # piece of every item is the same size, so a dropped item's memory fits the next item's
    from guardrail.review.store import _PIECE

    store = InMemoryReviewStore()
    store.enqueue(ReviewItem(id="short"))
    store.enqueue(_rich_item())
    for entry in store._items.values():
        assert {len(piece) for piece in entry.blob} == {_PIECE}
    assert len(store._items["rich"].blob) > len(store._items["short"].blob)


def test_claims_follow_oldest_first_under_random_operations() -> None:
    # the store finds the oldest pending item through heaps with lazy deletion; a brute-force
    # model (sort every pending item by (created_at, id) on each claim) must agree on every
    # claim over a random mix of enqueue / claim / claim_item / release / label / lapse / evict
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(17)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    now = [t0]
    store = InMemoryReviewStore(capacity=40, clock=lambda: now[0], lease=timedelta(minutes=5))
    model: dict[str, dict[str, object]] = {}  # id -> status, domain, created, reviewer, expires
    order: list[str] = []  # enqueue order, for eviction
    warnings.simplefilter("ignore", ReviewQueueFullWarning)

    def lapse() -> None:
        for m in model.values():
            if m["status"] == "claimed" and m["expires"] <= now[0]:  # type: ignore[operator]
                m.update(status="pending", reviewer=None)

    for step in range(3000):
        op = rng.random()
        now[0] += timedelta(seconds=rng.randint(0, 40))
        lapse()
        if op < 0.35:
            iid = f"i{step}"
            created = t0 + timedelta(minutes=rng.randint(-500, 500))  # not in enqueue order
            domain = rng.choice(["medical", "legal", "finance"])
            store.enqueue(ReviewItem(id=iid, created_at=created, domain=domain))
            model[iid] = {"status": "pending", "domain": domain, "created": created}
            order.append(iid)
            while len(order) > 40:
                del model[order.pop(0)]
        elif op < 0.65:
            domain = rng.choice([None, "medical", "legal", "finance"])
            limit = rng.randint(1, 3)
            pending = sorted(
                (m["created"], k)
                for k, m in model.items()
                if m["status"] == "pending" and domain in (None, m["domain"])
            )
            want = [k for _, k in pending[:limit]]  # type: ignore[misc]
            who = rng.choice(["ann", "bob"])
            got = [it.id for it in store.claim(who, domain=domain, limit=limit)]
            assert got == want, (step, got, want)
            for k in got:
                model[k].update(
                    status="claimed", reviewer=who, expires=now[0] + timedelta(minutes=5)
                )
        elif op < 0.75 and model:
            k = rng.choice(list(model))
            if model[k]["status"] == "pending":
                store.claim_item(k, "cat")
                model[k].update(
                    status="claimed", reviewer="cat", expires=now[0] + timedelta(minutes=5)
                )
        elif op < 0.85:
            held = [k for k, m in model.items() if m["status"] == "claimed"]
            if held:
                k = rng.choice(held)
                store.release(k, model[k]["reviewer"])  # type: ignore[arg-type]
                model[k].update(status="pending", reviewer=None)
        elif model:
            k = rng.choice(list(model))
            m = model[k]
            if m["status"] == "pending":
                store.label(k, "correct", reviewer="dan")
                m.update(status="labelled")
        assert store.count(status="pending") == sum(
            m["status"] == "pending" for m in model.values()
        )
    # stale heap entries (evicted, claimed, labelled items) are compacted away
    assert store._pending is not None
    assert sum(map(len, store._pending.values())) + len(store._claims) <= 40 * 5 // 4 + 64


def test_a_store_nobody_claims_from_keeps_no_pending_index() -> None:
    # the Guard default with nobody reviewing: 500 enqueues past a 100-item capacity leave no
    # heap entries behind (the pending index is built at the first claim)
    store = InMemoryReviewStore(capacity=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReviewQueueFullWarning)
        for i in range(600):
            store.enqueue(ReviewItem(id=f"n{i:03d}"))
    assert store._pending is None and store._claims == []
    assert [it.id for it in store.claim("ann", limit=2)] == ["n500", "n501"]
    assert store._pending is not None
    assert sum(map(len, store._pending.values())) == 98

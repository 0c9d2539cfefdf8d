"""Reviewer page abuse cases (issue 12, finding 4): DNS rebinding (foreign Host), POSTs without
Origin, open redirects through ``back=``, authentication, and an index that reads one page."""

from __future__ import annotations

import base64
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web page needs the 'web' extra (fastapi)")
pytest.importorskip("jinja2", reason="the web page needs the 'web' extra (jinja2)")

from fastapi.testclient import TestClient

from guardrail.review import InMemoryReviewStore, ReviewItem
from guardrail.review.web import PAGE_SIZE, TOKEN_ENV, create_app, safe_back

ORIGIN = {"origin": "http://testserver"}


def _store(n: int = 2) -> InMemoryReviewStore:
    return InMemoryReviewStore(
        [
            ReviewItem(
                id=f"it-{i:04d}", domain="general", question=f"question {i}", decision="review"
            )
            for i in range(n)
        ]
    )


def _client(store: InMemoryReviewStore, **kw: Any) -> TestClient:
    kw.setdefault("allowed_hosts", ["testserver"])
    return TestClient(create_app(store, **kw), follow_redirects=False)


def test_foreign_host_header_is_refused() -> None:
    # a DNS-rebinding page reaches 127.0.0.1 with its own name in Host
    with _client(_store(), allowed_hosts=None) as c:
        assert c.get("/", headers={"host": "evil.example"}).status_code == 400
        assert c.get("/item/it-0000", headers={"host": "evil.example:8765"}).status_code == 400
        ok = c.get("/", headers={"host": "127.0.0.1:8765"})
        assert ok.status_code == 200 and "question 0" in ok.text


def test_post_without_origin_is_refused() -> None:
    store = _store()
    with _client(store) as c:
        c.cookies.set("guardrail_reviewer", "ann")
        assert c.post("/item/it-0001/label", data={"label": "correct"}).status_code == 403
        r = c.post("/item/it-0001/label", data={"label": "correct"}, headers={"origin": "null"})
        assert r.status_code == 403 and store.get("it-0001").label is None
        r = c.post("/item/it-0001/label", data={"label": "correct"}, headers=ORIGIN)
        assert r.status_code == 303 and store.get("it-0001").label == "correct"


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/x", "/"),
        ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),  # percent-encoded: stays a path here
        ("/\r\nLocation: //evil", "/"),
        ("/item/it-0001?msg=hi", "/item/it-0001?msg=hi"),
        ("", "/"),
    ],
)
def test_back_is_same_site_only(back: str, expected: str) -> None:
    assert safe_back(back) == expected


def test_reviewer_redirect_uses_safe_back() -> None:
    with _client(_store()) as c:
        r = c.post("/reviewer", data={"name": "ann", "back": "//evil.example"}, headers=ORIGIN)
        assert r.status_code == 303 and r.headers["location"] == "/"
        r = c.post("/reviewer", data={"name": "ann", "back": "/item/it-0000"}, headers=ORIGIN)
        assert r.headers["location"] == "/item/it-0000"


def test_token_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok-123456")
    with _client(_store()) as c:
        r = c.get("/")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert c.get("/", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/", headers={"authorization": "Bearer tok-123456"}).status_code == 200
        basic = base64.b64encode(b"ann:tok-123456").decode()
        assert c.get("/", headers={"authorization": f"Basic {basic}"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # health checks need no token
    # an explicit empty token turns authentication off even with the variable set
    with _client(_store(), auth_token="") as c:
        assert c.get("/").status_code == 200


def test_index_reads_one_page() -> None:
    n = 2 * PAGE_SIZE + 7  # 107 items: pages of 50, 50, 7
    store = _store(n)
    reads: list[int | None] = []
    real_list = store.list

    def counting_list(**kw: Any) -> list[ReviewItem]:
        out = real_list(**kw)
        reads.append(kw.get("limit"))
        return out

    store.list = counting_list  # type: ignore[method-assign]
    # the in-memory count() lists internally; the SQL stores run COUNT(*): count apart from list
    store.count = lambda **kw: len(real_list(**kw))  # type: ignore[method-assign]
    with _client(store) as c:
        r = c.get("/")
        assert "page 1 of 3" in r.text and "question 49<" in r.text and "question 50<" not in r.text
        assert reads and all(lim is not None and lim <= 10 * PAGE_SIZE for lim in reads)
        r = c.get("/?page=3")
        assert (
            "page 3 of 3" in r.text and "question 106<" in r.text and "question 99<" not in r.text
        )
        assert c.get("/?page=99").text.count("page 3 of 3") == 1  # clamped to the last page
        assert c.get("/?page=0").status_code == 422


def test_nul_in_a_label_note_is_stored_as_replacement_character() -> None:
    store = _store()
    with _client(store) as c:
        c.cookies.set("guardrail_reviewer", "ann")
        r = c.post(
            "/item/it-0001/label",
            data={"label": "correct", "note": "a\x00b", "corrected_answer": "c\x00"},
            headers=ORIGIN,
        )
        assert r.status_code == 303
    got = store.get("it-0001")
    assert (got.note, got.corrected_answer) == ("a\ufffdb", "c\ufffd")

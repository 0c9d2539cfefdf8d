"""Reviewer web page: HTTP behaviour (FastAPI TestClient) and a real headless Chromium run that
presses the keyboard shortcut and checks the label landed in the store."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web page needs the 'web' extra (fastapi)")
pytest.importorskip("jinja2", reason="the web page needs the 'web' extra (jinja2)")

from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from guardrail.review import InMemoryReviewStore, ReviewItem, SQLiteReviewStore
from guardrail.review.web import create_app


def _items() -> list[ReviewItem]:
    return [
        ReviewItem(
            id="med-1", domain="medical", policy_name="medical", policy_version="sha256:9f2c",
            question="What is the maximum daily dose of paracetamol for a healthy adult?",
            answer_shown="4 g per day, split into doses at least 4 hours apart.",
            raw_answer="4 g per day.", decision="review",
            signals={"verbalized": 0.95, "consistency": 0.55, "hedges": 0,
                     "hedge_label": "assertive", "agreement": None},
            explanation=["stated_vs_sampled: verbalized - consistency = 0.40 > 0.30",
                         "<script>alert(1)</script> must be escaped"],
        ),
        ReviewItem(
            id="gen-2", domain="general", question="What is the capital of Australia?",
            answer_shown="Canberra.", decision="pass", reason="spot_check", sampling_rate=0.1,
            signals={"verbalized": 0.9},
        ),
    ]  # fmt: skip


@pytest.fixture
def client() -> Iterator[tuple[TestClient, InMemoryReviewStore]]:
    store = InMemoryReviewStore(_items())
    app = create_app(store, allowed_hosts=["testserver"])
    # browsers send Origin with every form POST; the page refuses POSTs without one
    with TestClient(app, follow_redirects=True, headers={"origin": "http://testserver"}) as c:
        yield c, store


def test_index_lists_pending(client: tuple[TestClient, InMemoryReviewStore]) -> None:
    c, _ = client
    r = c.get("/")
    assert r.status_code == 200
    assert "What is the maximum daily dose" in r.text and "spot 10%" in r.text
    assert 'id="count-pending">2<' in r.text
    assert c.get("/healthz").json() == {"ok": True, "pending": 2}


def test_next_requires_a_name_then_claims(client: tuple[TestClient, InMemoryReviewStore]) -> None:
    c, store = client
    r = c.post("/next")
    assert r.status_code == 400 and "reviewer name first" in r.text
    c.post("/reviewer", data={"name": "ann"})
    r = c.post("/next")
    assert r.status_code == 200 and r.url.path == "/item/med-1"
    assert store.get("med-1").reviewer == "ann" and store.get("med-1").status == "claimed"
    assert "stated_vs_sampled" in r.text and "0.550" in r.text and "missing" in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text  # escaped, not executed
    assert "Model&#39;s raw answer" in r.text or "Model's raw answer" in r.text


def test_label_then_next_item(client: tuple[TestClient, InMemoryReviewStore]) -> None:
    c, store = client
    c.post("/reviewer", data={"name": "ann"})
    c.post("/next")
    r = c.post("/item/med-1/label", data={"label": "incorrect", "note": "max 3 g if risk",
                                          "corrected_answer": "3-4 g"})  # fmt: skip
    got = store.get("med-1")
    assert (got.label, got.note, got.corrected_answer, got.reviewer) == (
        "incorrect", "max 3 g if risk", "3-4 g", "ann")  # fmt: skip
    assert r.url.path == "/item/gen-2" and "Labelled med-1 as incorrect." in r.text
    r = c.post("/item/gen-2/label", data={"label": "cannot_judge"})
    assert r.url.path == "/" and "Nothing pending" in r.text


def test_conflicts_and_bad_input(client: tuple[TestClient, InMemoryReviewStore]) -> None:
    c, store = client
    store.claim_item("med-1", "bob")
    c.post("/reviewer", data={"name": "ann"})
    r = c.get("/item/med-1")
    assert "Claimed by bob" in r.text
    r = c.post("/item/med-1/label", data={"label": "correct"})
    assert r.status_code == 409 and "claimed by bob" in r.text
    r = c.post("/item/gen-2/label", data={"label": "great"})
    assert r.status_code == 400 and "unknown label" in r.text
    assert store.get("gen-2").label is None
    assert c.get("/item/nope").status_code == 404
    r = c.post("/item/med-1/release")
    assert r.status_code == 409


# -- headless Chromium ---------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--disable-dev-shm-usage",
]  # fmt: skip

HARNESS = """<!doctype html><html><body><pre id="log">starting</pre>
<iframe id="f" src="/item/med-1" style="width:1000px;height:800px"></iframe>
<script>
var log = document.getElementById('log'), f = document.getElementById('f'), step = 0;
f.addEventListener('load', function () {
  var d = f.contentDocument;
  step += 1;
  if (step === 1) {
    var auto = d.querySelector('[autofocus]');
    var active = auto ? auto.textContent.trim() : '';
    var buttons = Array.from(d.querySelectorAll('button[data-key]')).map(function (b) {
      return b.getAttribute('data-key') + '=' + b.value; });
    log.textContent = 'autofocus:' + active + '\\nbuttons:' + buttons.join(',') + '\\n';
    // Press "2" (incorrect) the way a user would: a keydown on the page.
    d.dispatchEvent(new KeyboardEvent('keydown', {key: '2', bubbles: true}));
  } else {
    log.textContent += 'after:' + f.contentWindow.location.pathname + '\\n' +
      'flash:' + ((d.querySelector('.flash') || {}).textContent || '') + '\\nDONE';
  }
});
</script></body></html>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, SQLiteReviewStore]]:
    uvicorn = pytest.importorskip("uvicorn")
    store = SQLiteReviewStore(tmp_path / "web.db")
    for it in _items():
        store.enqueue(it)
    app = create_app(store, default_reviewer="ann")

    @app.get("/__harness", response_class=HTMLResponse)
    def harness() -> str:  # test-only page, never part of the product
        return HARNESS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def _run_chromium(binary: str, *args: str) -> str:
    profile = tempfile.mkdtemp(prefix="guardrail-chromium-")
    try:
        proc = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_chromium_keyboard_labelling(live_server: tuple[str, SQLiteReviewStore]) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no headless browser: apt-get install chromium")
    base, store = live_server
    dom = _run_chromium(binary, "--virtual-time-budget=15000", "--dump-dom", f"{base}/__harness")
    assert "DONE" in dom, dom[-1500:]
    assert "buttons:1=correct,2=incorrect,3=partially,4=cannot_judge" in dom
    assert "autofocus:Correct1" in dom  # the first label button takes the focus on load
    assert "after:/item/gen-2" in dom and "flash:Labelled med-1 as incorrect." in dom
    got = store.get("med-1")
    assert (got.label, got.reviewer) == ("incorrect", "ann")
    assert store.get("gen-2").reviewer == "ann"  # the next item was claimed for ann


@pytest.mark.slow
def test_chromium_screenshot_renders(live_server: tuple[str, SQLiteReviewStore]) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no headless browser: apt-get install chromium")
    base, _ = live_server
    out = Path(os.environ.get("GUARDRAIL_SCREENSHOT_DIR", tempfile.mkdtemp())) / "review-item.png"
    _run_chromium(binary, "--window-size=1100,1250", f"--screenshot={out}", f"{base}/item/med-1")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 1250)
    dom = _run_chromium(binary, "--dump-dom", f"{base}/item/med-1")
    assert "What is the maximum daily dose of paracetamol" in dom
    assert 'id="signals"' in dom and "stated_vs_sampled" in dom


def test_cross_site_posts_are_refused(client: tuple[TestClient, InMemoryReviewStore]) -> None:
    c, store = client
    c.post("/reviewer", data={"name": "ann"})
    r = c.post("/item/gen-2/label", data={"label": "correct"},
               headers={"origin": "https://evil.example"})  # fmt: skip
    assert r.status_code == 403 and store.get("gen-2").label is None
    r = c.post("/item/gen-2/label", data={"label": "correct"},
               headers={"origin": "http://testserver"})  # fmt: skip
    assert r.status_code == 200 and store.get("gen-2").label == "correct"

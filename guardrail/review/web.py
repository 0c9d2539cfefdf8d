"""A small server-rendered page for human reviewers (FastAPI + Jinja2; extra ``web``).

Routes (all HTML unless noted):

- ``GET /``: queue overview (counts, pending items, "Review next").
- ``POST /next``: claim the oldest pending item (optionally in a domain) and show it.
- ``GET /item/{id}``: the question, the answer shown (and the raw answer if different), the
  signals, the policy's explanation, and the label form.
- ``POST /item/{id}/label``: form fields ``label`` (correct / incorrect / partially /
  cannot_judge), ``note``, ``corrected_answer``; then the next item is claimed and shown.
- ``POST /item/{id}/release``: give the item back.
- ``POST /reviewer``: set the reviewer name (a cookie).
- ``GET /healthz``: ``{"ok": true, "pending": n}`` (JSON).

Keyboard: ``1``-``4`` label (correct, incorrect, partially, cannot judge), ``n`` next item,
``r`` release, ``/`` focus the note; every control is also a plain, focusable form button.

No authentication: bind to 127.0.0.1 (the default) or put it behind your single sign-on proxy.
Cross-site form posts (an ``Origin`` header naming another host) are refused with 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

try:
    from fastapi import FastAPI, Form, Request
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from fastapi.templating import Jinja2Templates
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        "the reviewer web page needs the 'web' extra: pip install 'guardrail-uq[web]'"
    ) from exc

from guardrail.review.backends import open_store
from guardrail.review.models import ReviewItem, ReviewLabel, ReviewStatus
from guardrail.review.store import (
    AlreadyLabelled,
    ClaimConflict,
    ItemNotFound,
    ReviewStore,
)

__all__ = ["create_app"]

COOKIE = "guardrail_reviewer"
TEMPLATES = Path(__file__).with_name("templates")

LABELS: tuple[tuple[str, str, str], ...] = (
    ("correct", "Correct", "1"),
    ("incorrect", "Incorrect", "2"),
    ("partially", "Partially", "3"),
    ("cannot_judge", "Cannot judge", "4"),
)


def _signal_rows(item: ReviewItem) -> list[dict[str, Any]]:
    rows = []
    for name, value in sorted(item.signals.items()):
        frac = (
            float(value)
            if isinstance(value, float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
            else None
        )
        if value is None:
            text = "missing"
        elif isinstance(value, float):
            text = f"{value:.3f}"
        else:
            text = str(value)
        rows.append({"name": name, "text": text, "frac": frac})
    return rows


def create_app(
    store: ReviewStore | str,
    *,
    default_reviewer: str | None = None,
    title: str = "guardrail review",
) -> FastAPI:
    """Build the reviewer app on a store (or a store URL, opened once and closed on shutdown).

    Raises:
        ValueError / ImportError: as :func:`~guardrail.review.open_store` for a bad URL.
    """
    st: ReviewStore = open_store(store) if isinstance(store, str) else store

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if isinstance(store, str):  # we opened it, we close it
            st.close()

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app.state.store = st

    @app.middleware("http")
    async def same_origin_posts(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse cross-site form posts (a page elsewhere must not label items): a POST whose
        ``Origin`` header names another host gets 403."""
        origin = request.headers.get("origin")
        foreign = bool(origin) and urlsplit(origin or "").netloc != request.headers.get("host")
        if request.method == "POST" and foreign:
            return HTMLResponse("cross-site request refused", status_code=403)
        return await call_next(request)

    def reviewer_of(request: Request) -> str | None:
        name = request.cookies.get(COOKIE) or default_reviewer
        return name.strip() if name and name.strip() else None

    def page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        counts = {s.value: st.count(status=s) for s in ReviewStatus}
        base = {
            "title": title,
            "reviewer": reviewer_of(request),
            "counts": counts,
            "labels": LABELS,
            "flash": request.query_params.get("msg"),
        }
        base.update(ctx)
        return templates.TemplateResponse(request, name, base, status_code=status_code)

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, domain: str | None = None) -> HTMLResponse:
        pending = st.list(status=ReviewStatus.PENDING, domain=domain or None, limit=100)
        mine: list[ReviewItem] = []
        who = reviewer_of(request)
        if who:
            mine = [i for i in st.list(status=ReviewStatus.CLAIMED) if i.reviewer == who]
        domains = sorted({i.domain for i in st.list(status=ReviewStatus.PENDING)})
        return page(
            request, "index.html", pending=pending, mine=mine, domains=domains, domain=domain or ""
        )

    @app.post("/reviewer")
    def set_reviewer(name: Annotated[str, Form()], back: Annotated[str, Form()] = "/") -> Response:
        resp = redirect(back if back.startswith("/") else "/")
        resp.set_cookie(COOKIE, name.strip()[:100], httponly=True, samesite="strict")
        return resp

    @app.post("/next", response_model=None)
    def next_item(
        request: Request, domain: Annotated[str, Form()] = ""
    ) -> HTMLResponse | RedirectResponse:
        who = reviewer_of(request)
        if not who:
            return page(
                request,
                "index.html",
                status_code=400,
                pending=[],
                mine=[],
                domains=[],
                domain="",
                error="Enter your reviewer name first.",
            )
        got = st.claim(who, domain=domain or None)
        if not got:
            return redirect("/?msg=" + quote("Nothing left to review."))
        return redirect(f"/item/{quote(got[0].id)}")

    @app.get("/item/{item_id}", response_class=HTMLResponse)
    def show(request: Request, item_id: str) -> HTMLResponse:
        try:
            item = st.get(item_id)
        except ItemNotFound:
            return page(
                request, "error.html", status_code=404, error=f"No review item {item_id!r}."
            )
        who = reviewer_of(request)
        other = (
            item.status is ReviewStatus.CLAIMED
            and item.reviewer is not None
            and item.reviewer != who
        )
        return page(
            request, "item.html", item=item, signals=_signal_rows(item), claimed_by_other=other
        )

    @app.post("/item/{item_id}/label", response_model=None)
    def label(
        request: Request,
        item_id: str,
        label: Annotated[str, Form()],
        note: Annotated[str, Form()] = "",
        corrected_answer: Annotated[str, Form()] = "",
        overwrite: Annotated[str, Form()] = "",
    ) -> HTMLResponse | RedirectResponse:
        who = reviewer_of(request)
        if not who:
            return page(
                request, "error.html", status_code=400, error="Enter your reviewer name first."
            )
        try:
            lab = ReviewLabel.parse(label)
            st.label(
                item_id,
                lab,
                reviewer=who,
                note=note.strip() or None,
                corrected_answer=corrected_answer.strip() or None,
                overwrite=bool(overwrite),
            )
        except ValueError as exc:
            return page(request, "error.html", status_code=400, error=str(exc))
        except ItemNotFound as exc:
            return page(request, "error.html", status_code=404, error=str(exc))
        except (ClaimConflict, AlreadyLabelled) as exc:
            return page(request, "error.html", status_code=409, error=str(exc))
        msg = quote(f"Labelled {item_id} as {lab.value.replace('_', ' ')}.")
        got = st.claim(who)
        if not got:
            return redirect(f"/?msg={msg}")
        return redirect(f"/item/{quote(got[0].id)}?msg={msg}")

    @app.post("/item/{item_id}/release", response_model=None)
    def release(request: Request, item_id: str) -> HTMLResponse | RedirectResponse:
        who = reviewer_of(request)
        try:
            st.release(item_id, who or "")
        except (ClaimConflict, ValueError) as exc:
            return page(request, "error.html", status_code=409, error=str(exc))
        except ItemNotFound as exc:
            return page(request, "error.html", status_code=404, error=str(exc))
        return redirect("/?msg=" + quote(f"Released {item_id}."))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"ok": True, "pending": st.count(status=ReviewStatus.PENDING)})

    return app

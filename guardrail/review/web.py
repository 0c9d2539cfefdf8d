"""A small server-rendered page for human reviewers (FastAPI + Jinja2; extra ``web``).

Routes (all HTML unless noted):

- ``GET /``: queue overview (counts, one page of pending items, ``?page=N``, "Review next").
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

Protections (``docs/security.md``):

- **Host allow-list** (Starlette's ``TrustedHostMiddleware``): requests whose ``Host`` header is not
  in ``allowed_hosts`` (default: ``127.0.0.1``, ``localhost``) get 400, so a DNS-rebinding page
  cannot read queued answers through a victim's browser.
- **Same-origin POSTs**: every POST must carry an ``Origin`` header naming this page's own
  ``Host``; a foreign, ``null`` or missing ``Origin`` gets 403 (browsers send ``Origin`` on every
  form POST).
- **Same-site redirects only**: ``back=`` must be a path on this site (``/...``, never ``//host``).
- **Optional authentication**: with ``auth_token`` (or ``$GUARDRAIL_REVIEW_TOKEN``) every route
  except ``/healthz`` needs ``Authorization: Bearer <token>`` or HTTP basic with the token as the
  password (browsers prompt for it). Required when the page is bound to a non-loopback address.
- **Pagination**: the index reads one page (:data:`PAGE_SIZE` items), whatever the queue size.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

try:
    from fastapi import FastAPI, Form, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from fastapi.templating import Jinja2Templates
    from starlette.middleware.trustedhost import TrustedHostMiddleware
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        "the reviewer web page needs the 'web' extra: pip install 'guardrail-uq[web]'"
    ) from exc

from guardrail._safety import clean_text
from guardrail.review.backends import open_store
from guardrail.review.models import ReviewItem, ReviewLabel, ReviewStatus
from guardrail.review.store import (
    AlreadyLabelled,
    ClaimConflict,
    ItemNotFound,
    ReviewStore,
)

__all__ = ["DEFAULT_ALLOWED_HOSTS", "PAGE_SIZE", "TOKEN_ENV", "create_app", "safe_back"]

COOKIE = "guardrail_reviewer"
TOKEN_ENV = "GUARDRAIL_REVIEW_TOKEN"
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")
PAGE_SIZE = 50
_MAX_PAGE = 10**6
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


def safe_back(back: str) -> str:
    """``back`` when it is a path on this site, else ``"/"``: refuses ``//evil.example``,
    ``/\\evil.example``, ``https://...`` and control characters (open-redirect protection)."""
    if (
        not back.startswith("/")
        or back.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in back)
    ):
        return "/"
    parts = urlsplit(back)
    return back if not parts.scheme and not parts.netloc else "/"


def _authorized(header: str | None, token: str) -> bool:
    """``Authorization`` carries the token (Bearer, or HTTP basic with it as the password)."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded.partition(":")[2].encode(), token.encode())
    return False


def create_app(
    store: ReviewStore | str,
    *,
    default_reviewer: str | None = None,
    title: str = "guardrail review",
    allowed_hosts: Sequence[str] | None = None,
    auth_token: str | None = None,
) -> FastAPI:
    """Build the reviewer app on a store (or a store URL, opened once and closed on shutdown).

    Args:
        store: a review store, or a store URL for :func:`~guardrail.review.open_store`.
        default_reviewer: reviewer name when the browser has set none.
        title: page title.
        allowed_hosts: accepted ``Host`` header names (ports ignored; ``*.example.org``
            wildcards as in Starlette); default :data:`DEFAULT_ALLOWED_HOSTS`.
        auth_token: require this token on every route but ``/healthz`` (default:
            ``$GUARDRAIL_REVIEW_TOKEN``; unset or empty: no authentication).

    Raises:
        ValueError / ImportError: as :func:`~guardrail.review.open_store` for a bad URL.
    """
    st: ReviewStore = open_store(store) if isinstance(store, str) else store
    token = auth_token if auth_token is not None else os.environ.get(TOKEN_ENV, "")

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
        """Authenticate (when a token is set), then refuse POSTs whose ``Origin`` is missing or
        names another host (a page elsewhere must not label items): 401 / 403."""
        if (
            token
            and request.url.path != "/healthz"
            and not _authorized(request.headers.get("authorization"), token)
        ):
            return HTMLResponse(
                "authentication required",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="guardrail review"'},
            )
        if request.method == "POST":
            origin = request.headers.get("origin") or ""
            host = request.headers.get("host")
            if not origin or origin == "null" or urlsplit(origin).netloc != host:
                return HTMLResponse("cross-site request refused", status_code=403)
        return await call_next(request)

    # added last = outermost: a foreign Host is refused before anything else runs
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=list(allowed_hosts or DEFAULT_ALLOWED_HOSTS)
    )

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
    def index(
        request: Request,
        domain: str | None = None,
        page_no: Annotated[int, Query(alias="page", ge=1, le=_MAX_PAGE)] = 1,
    ) -> HTMLResponse:
        # one page of items, whatever the queue size (the count is one COUNT query)
        total = st.count(status=ReviewStatus.PENDING, domain=domain or None)
        pages = max(1, -(-total // PAGE_SIZE))
        current = min(page_no, pages)
        pending = st.list(
            status=ReviewStatus.PENDING,
            domain=domain or None,
            limit=PAGE_SIZE,
            offset=(current - 1) * PAGE_SIZE,
        )
        mine: list[ReviewItem] = []
        who = reviewer_of(request)
        if who:
            claimed = st.list(status=ReviewStatus.CLAIMED, limit=10 * PAGE_SIZE)
            mine = [i for i in claimed if i.reviewer == who]
        domains = sorted({i.domain for i in pending} | ({domain} if domain else set()))
        return page(
            request,
            "index.html",
            pending=pending,
            mine=mine,
            domains=domains,
            domain=domain or "",
            page_no=current,
            pages=pages,
            filtered_total=total,
        )

    @app.post("/reviewer")
    def set_reviewer(name: Annotated[str, Form()], back: Annotated[str, Form()] = "/") -> Response:
        resp = redirect(safe_back(back))
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
                note=clean_text(note.strip()) or None,  # a %00 in the form: U+FFFD
                corrected_answer=clean_text(corrected_answer.strip()) or None,
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

"""A small chat web app that shows guardrail's notices, abstentions and pending reviews.

    pip install "guardrail-uq[web]"      # FastAPI + uvicorn
    uvicorn sdk_examples.chat_app:app    # embedded model
    # or set GUARDRAIL_BASE_URL / GUARDRAIL_MODEL for an OpenAI-compatible server

``create_app(guard)`` builds the app around any :class:`guardrail.Guard` (the tests pass one
talking to a local test server). ``POST /api/chat`` with ``{"message": ..., "domain": ...}``
answers 200 with the guarded answer, or 422 with ``{"detail": ...}`` for a missing or unknown
domain or an empty message.
"""

from __future__ import annotations

import html
import os

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from guardrail import Guard
from guardrail.providers import make_provider

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>guarded chat</title>
<style>
 body {{ font-family: sans-serif; max-width: 40em; margin: 2em auto; }}
 .notice {{ background: #fff6d5; border-left: 4px solid #e0a800; padding: .5em; }}
 .abstained {{ background: #fde2e2; border-left: 4px solid #c00; padding: .5em; }}
 .pending_review {{ background: #e2ecfd; border-left: 4px solid #06c; padding: .5em; }}
</style></head>
<body><h1>Ask ({domains})</h1>
<form id="f"><select id="d">{options}</select> <input id="q" size="50"> <button>Ask</button></form>
<div id="out"></div>
<script>
document.getElementById('f').onsubmit = async (e) => {{
  e.preventDefault();
  const r = await fetch('/api/chat', {{method: 'POST',
    headers: {{'Content-Type': 'application/json'}},
    body: JSON.stringify({{message: document.getElementById('q').value,
                          domain: document.getElementById('d').value}})}});
  const j = await r.json();
  const div = document.createElement('div');
  if (!r.ok) {{
    const p = document.createElement('p'); p.className = 'abstained';
    p.textContent = 'Error: ' + j.detail; div.appendChild(p);
    document.getElementById('out').prepend(div);
    return;
  }}
  const p = document.createElement('p'); p.textContent = j.answer; div.appendChild(p);
  for (const n of j.notices) {{
    const b = document.createElement('p'); b.className = 'notice'; b.textContent = n;
    div.appendChild(b);
  }}
  if (j.status !== 'answered') {{ p.className = j.status; }}
  document.getElementById('out').prepend(div);
}};
</script></body></html>"""


class ChatIn(BaseModel):
    message: str
    domain: str | None = None


class ChatOut(BaseModel):
    status: str
    answer: str
    notices: list[str]
    action: str | None
    review_id: str | None


def create_app(guard: Guard) -> FastAPI:
    app = FastAPI(title="guarded chat")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        options = "".join(
            f'<option value="{html.escape(d)}">{html.escape(d)}</option>' for d in guard.domains
        )
        return PAGE.format(domains=", ".join(guard.domains), options=options)

    @app.post("/api/chat")
    async def chat(body: ChatIn) -> ChatOut:
        # A missing or unknown domain is the client's mistake: 422 with the known domains,
        # never a 500 with a traceback.
        known = ", ".join(guard.domains)
        if body.domain is None and len(guard.domains) > 1:
            raise HTTPException(422, f"give a domain: one of {known}")
        if body.domain is not None and body.domain not in guard.domains:
            raise HTTPException(422, f"unknown domain {body.domain!r}: one of {known}")
        if not body.message.strip():
            raise HTTPException(422, "the message is empty")
        try:
            r = await guard.chat([{"role": "user", "content": body.message}], domain=body.domain)
        except ValueError as exc:  # anything else Guard.chat rejects as bad input
            raise HTTPException(422, str(exc)) from None
        # the answer without the notice, and the notices separately, so the page can style them
        shown = r.answer if r.status == "answered" else r.text
        return ChatOut(
            status=r.status,
            answer=shown,
            notices=r.notices,
            action=r.action.value if r.action else None,
            review_id=r.review_id,
        )

    return app


def _default_app() -> FastAPI:
    provider = make_provider(
        os.environ.get("GUARDRAIL_BASE_URL"), model=os.environ.get("GUARDRAIL_MODEL")
    )
    return create_app(Guard.from_policies("policies", provider, max_tokens=96))


def __getattr__(name: str) -> FastAPI:
    # `uvicorn sdk_examples.chat_app:app` builds the default app lazily (importing this module
    # for create_app does not load a model).
    if name == "app":
        return _default_app()
    raise AttributeError(name)

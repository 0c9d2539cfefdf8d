"""A small chat web app that shows guardrail's notices, abstentions and pending reviews.

    pip install "guardrail-uq[web]"      # FastAPI + uvicorn
    uvicorn sdk_examples.chat_app:app    # embedded model
    # or set GUARDRAIL_BASE_URL / GUARDRAIL_MODEL for an OpenAI-compatible server

``create_app(guard)`` builds the app around any :class:`guardrail.Guard` (the tests pass one
talking to a local test server).
"""

from __future__ import annotations

import html
import os

from fastapi import FastAPI
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
        r = await guard.chat([{"role": "user", "content": body.message}], domain=body.domain)
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

"""Tasks of guardrail's own code still pending: after a guarded call or stream has returned or
been closed there must be none (a cancelled-but-unawaited task outlives the call, keeps its HTTP
request open and, when the loop closes first, is destroyed mid-flight: "coroutine ... was never
awaited"). httpx's own async generators, closed by the loop's async-generator finalizer after
``response.aclose()``, are not guardrail's and are not counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import guardrail

_ROOT = str(Path(guardrail.__file__).resolve().parent)


def guardrail_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks (other than the current one) whose coroutine is guardrail code."""
    out = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and str(Path(code.co_filename).resolve()).startswith(_ROOT):
            out.append(task)
    return out

"""A real ``llama_cpp.server`` (the ``local`` extra) on 127.0.0.1, for end-to-end tests.

``run_llama_server(log_dir, gguf, *args, api_key=None)`` starts ``python -m llama_cpp.server``
with the embedded GGUF on a free loopback port, waits until ``GET /v1/models`` answers 200
(at most 120 s; the test fails with the server's log tail if it exits or never comes up), yields
the base URL ``http://127.0.0.1:PORT/v1`` and stops the server afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 120


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def run_llama_server(
    log_dir: Path, gguf: str, *args: str, api_key: str | None = None
) -> Iterator[str]:
    """Serve ``gguf`` with extra server ``args`` (e.g. ``"--embedding", "true"``)."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model_alias", "smollm2", *args]
    if api_key is not None:
        cmd += ["--api_key", api_key]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    log_path = log_dir / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: llama.cpp logs a lot and a full pipe blocks
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                err = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{base}/models", headers=headers, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up within {STARTUP_SECONDS} s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

"""A real S3-compatible server for the object-storage tests: moto's server mode
(``ThreadedMotoServer``, a werkzeug HTTP server) on 127.0.0.1, started once per session on a
free port, with fixed fake credentials. Needs ``moto[s3]``, ``flask``, ``flask-cors`` (extra
``dev``) and ``s3fs`` (extra ``s3``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1."""
    pytest.importorskip("s3fs", reason="s3:// needs s3fs (extra s3)")
    server_mod = pytest.importorskip(
        "moto.server", reason="the S3 test server needs moto[s3], flask, flask-cors (extra dev)"
    )
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(s3://fresh-bucket, storage_options)`` on the test server."""
    import s3fs

    options: dict[str, Any] = {
        "endpoint_url": s3_server,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    bucket = f"guardrail-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(bucket)
    yield f"s3://{bucket}", options
    fs.rm(bucket, recursive=True)

"""Fixtures for the review-store tests: a fake clock, and the three back ends.

PostgreSQL: the ``postgres_dsn`` fixture uses ``$GUARDRAIL_TEST_POSTGRES_DSN`` when set (CI starts a
real server in ``.ci/run``); otherwise, when PostgreSQL's server binaries are installed (Debian:
``apt-get install postgresql``), it starts a throwaway cluster on 127.0.0.1 in a temporary folder
for the test session and removes it afterwards; otherwise the PostgreSQL tests skip with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from review_testlib import FakeClock, StoreFactory

from guardrail.review import InMemoryReviewStore, ReviewStore, SQLiteReviewStore

DSN_ENV = "GUARDRAIL_TEST_POSTGRES_DSN"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _pg_bindir() -> Path | None:
    def version(p: Path) -> tuple[int, ...]:
        try:
            return tuple(int(x) for x in p.parent.name.split("."))
        except ValueError:
            return (0,)

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _can_connect(dsn: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'guardrail-uq[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"cannot connect to PostgreSQL at {dsn}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for a live PostgreSQL server (see the module docstring); skips when there is none."""
    env = os.environ.get(DSN_ENV)
    if env:
        problem = _can_connect(env)
        if problem:
            pytest.fail(f"{DSN_ENV} is set but unusable: {problem}")
        yield env
        return
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            f"no PostgreSQL: set {DSN_ENV} or install the server (apt-get install postgresql)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'guardrail-uq[postgres]')")
    prefix: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="guardrail-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root: run the cluster as 'postgres'
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run a cluster")
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = workdir / "data", workdir / "server.log"
    port = _free_port()
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} -c fsync=off"
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
             "-t", "60", "-o", opts, "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL cluster: {exc} {detail[-500:]!r}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[StoreFactory]:
    """``make_store(**options)`` opens a store on this test's backing storage (every call with the
    same test shares it, like several app instances); all use the fake clock unless overridden."""
    opened: list[ReviewStore] = []
    memory: list[InMemoryReviewStore] = []
    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else ""

    def factory(**options: object) -> ReviewStore:
        options.setdefault("clock", clock)
        store: ReviewStore
        if backend == "memory":
            if memory and not options.pop("fresh", False):
                return memory[0]
            store = InMemoryReviewStore(**options)  # type: ignore[arg-type]
            memory.append(store)
        elif backend == "sqlite":
            store = SQLiteReviewStore(tmp_path / "queue.db", **options)  # type: ignore[arg-type]
        else:
            from guardrail.review import PostgresReviewStore

            store = PostgresReviewStore(dsn, schema=schema, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield factory
    if backend == "postgres" and opened:
        from guardrail.review import PostgresReviewStore

        last = opened[-1]
        assert isinstance(last, PostgresReviewStore)
        last.drop_schema()
    for store in opened:
        store.close()

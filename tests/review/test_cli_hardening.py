"""``guardrail review`` on hostile input (issue 12, findings 6 and 7): each case is one clear line
and a non-zero exit, never a traceback, and never a database password."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.review import ReviewItem, SQLiteReviewStore

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, list(args))
    flat = " ".join(result.output.replace("│", " ").split())
    return result.exit_code, flat, result.exception


def _no_traceback(exc: BaseException | None) -> None:
    assert exc is None or isinstance(exc, SystemExit), repr(exc)


@pytest.fixture
def corrupt_db(tmp_path: Path) -> str:
    """A real queue file whose every page after the first (the header and schema) was scribbled
    over, as a bad disk or a careless copy would."""
    path = tmp_path / "corrupt.db"
    with SQLiteReviewStore(path) as st:
        for _ in range(300):
            st.enqueue(ReviewItem(domain="g", question="q" * 500, decision="review"))
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the page size field of the SQLite header
    for i in range(page, len(data), 7):
        data[i] = 0x5A
    path.write_bytes(bytes(data))
    return str(path)


@pytest.fixture
def foreign_db(tmp_path: Path) -> str:
    """Some other program's SQLite file that happens to have a review_items table."""
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE review_items (x)")
    conn.execute("INSERT INTO review_items VALUES (1)")
    conn.commit()
    conn.close()
    return str(path)


def test_list_on_a_corrupt_file(corrupt_db: str) -> None:
    code, out, exc = _run("review", "list", "--store", corrupt_db)
    assert code == 2 and "database disk image is malformed" in out
    _no_traceback(exc)


@pytest.mark.parametrize("which", ["corrupt_db", "foreign_db"])
def test_serve_on_a_corrupt_or_foreign_file(
    which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="serve needs the 'web' extra")

    def must_not_serve(*a: object, **k: object) -> None:
        raise AssertionError("serve started a server on a broken store")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    path = request.getfixturevalue(which)
    code, out, exc = _run("review", "serve", "--store", path, "--port", "1")
    assert code == 2 and out.startswith(f"error: cannot open review store {path}:")
    _no_traceback(exc)


def test_serve_refuses_a_public_bind_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="serve needs the 'web' extra")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.delenv("GUARDRAIL_REVIEW_TOKEN", raising=False)
    code, out, exc = _run("review", "serve", "--store", str(tmp_path / "q.db"), "--host", "0.0.0.0")
    assert code == 2 and "set $GUARDRAIL_REVIEW_TOKEN" in out
    _no_traceback(exc)


def test_since_beyond_the_calendar(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    SQLiteReviewStore(db).close()
    code, out, exc = _run("review", "list", "--store", str(db), "--since", "99999999999d")
    assert code == 2 and "reaches before year 1" in out
    _no_traceback(exc)


def test_import_a_2_mb_csv_field(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    SQLiteReviewStore(db).close()
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n" + "x" * 2_000_000 + ",correct\n", encoding="utf-8")
    code, out, exc = _run("review", "import", str(labels), "--store", str(db), "-r", "ann")
    assert code == 2 and "not readable as CSV" in out and "field larger than field limit" in out
    _no_traceback(exc)


def test_import_deep_json_and_huge_ints_are_bad_rows(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with SQLiteReviewStore(db) as st:
        st.enqueue(ReviewItem(id="a", domain="g", decision="review"))
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "[" * 100_000
        + "]" * 100_000
        + "\n"  # line 1
        + '{"id": "a", "label": "correct", "n": '
        + "9" * 5000
        + "}\n"  # line 2
        + '{"id": "a", "label": "correct"}\n',  # line 3: applied
        encoding="utf-8",
    )
    code, out, exc = _run("review", "import", str(labels), "--store", str(db), "-r", "ann")
    assert code == 0 and "Imported 1 label(s); skipped 2." in out
    assert "labels.jsonl:1: not JSON (nested too deeply)" in out
    assert "labels.jsonl:2: not JSON (Exceeds the limit (4300 digits)" in out
    _no_traceback(exc)


def test_postgres_password_is_not_printed() -> None:
    pytest.importorskip("psycopg", reason="needs the 'postgres' extra")
    url = "postgresql://app:pw-Secret-9@127.0.0.1:1/guard?connect_timeout=2"
    code, out, exc = _run("review", "list", "--store", url)
    assert code == 2 and "cannot open review store postgresql://app:***@127.0.0.1:1/guard" in out
    assert "pw-Secret-9" not in out
    _no_traceback(exc)


def test_unknown_store_url_error_hides_the_password() -> None:
    from guardrail.review import open_store

    with pytest.raises(ValueError, match=r"'mysql://u:\*\*\*@h/db'") as info:
        open_store("mysql://u:topsecret@h/db")
    assert "topsecret" not in str(info.value)
    code, out, exc = _run("review", "list", "--store", "mysql://u:topsecret@h/db")
    assert code == 2 and "topsecret" not in out and "mysql://u:***@h/db" in out
    _no_traceback(exc)

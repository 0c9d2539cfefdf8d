"""Open a review store from a URL (what the CLI's ``--store`` option and the SDK config take)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guardrail._safety import redact_url
from guardrail.review.store import InMemoryReviewStore, ReviewStore

__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "default_store_path",
    "open_store",
    "sqlite_path",
    "store_url",
]

#: How the default store is described in help texts (:func:`default_store_path` is the file).
DEFAULT_STORE = "<user data dir>/guardrail/review.db"
#: Environment variable naming the review store when no ``--store`` is given.
STORE_ENV = "GUARDRAIL_REVIEW_STORE"


def default_store_path() -> Path:
    """The SQLite review store used when none is configured: ``review.db`` in the user's data
    directory for guardrail (``platformdirs.user_data_path("guardrail")``: on Linux
    ``$XDG_DATA_HOME/guardrail/review.db``, by default ``~/.local/share/guardrail/review.db``;
    on macOS ``~/Library/Application Support/guardrail/review.db``). The same file from every
    working directory, so ``guardrail review list`` finds what ``guardrail ask`` queued; nothing
    is written into the folder the command runs in. The folder is not created here."""
    from platformdirs import user_data_path

    return user_data_path("guardrail", appauthor=False) / "review.db"


def store_url(explicit: str | None = None) -> str:
    """The review store to use: ``explicit``, else ``$GUARDRAIL_REVIEW_STORE``, else
    :func:`default_store_path`. Used by every CLI command that touches the queue, so
    ``guardrail ask`` and ``guardrail review`` share one store."""
    return explicit or os.environ.get(STORE_ENV) or str(default_store_path())


def sqlite_path(url: str | Path) -> str | None:
    """The SQLite file ``url`` names, as :func:`open_store` reads it (``sqlite:///abs/path.db``,
    ``sqlite:relative.db`` or a plain file path), else None (PostgreSQL, ``memory:``, another
    ``scheme://``)."""
    text = str(url).strip()
    if text.startswith(("postgresql://", "postgres://")) or text in ("memory:", ":memory:"):
        return None
    if text.startswith("sqlite:"):
        path = text.removeprefix("sqlite:")
        return "/" + path.lstrip("/") if path.startswith("///") else path.removeprefix("//")
    return None if "://" in text else text


def open_store(url: str | Path, **options: Any) -> ReviewStore:
    """Open the review store named by ``url``.

    - ``postgresql://...`` or ``postgres://...``: :class:`PostgresReviewStore` (extra ``postgres``);
      a ``schema=NAME`` query parameter picks the PostgreSQL schema (it is removed before the
      URL goes to libpq); ``schema=`` in ``options`` does the same.
    - ``memory:``: a fresh :class:`InMemoryReviewStore` (not durable).
    - ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a plain file path:
      :class:`SQLiteReviewStore`.

    ``options`` go to the store's constructor (``redact``, ``store_content``, ``lease``, ...).

    Raises:
        ValueError: empty URL or an unknown ``scheme://``.
    """
    text = str(url).strip()
    if not text:
        raise ValueError("review store URL is empty")
    if text.startswith(("postgresql://", "postgres://")):
        from guardrail.review.postgres_store import PostgresReviewStore

        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        if schemas:
            options.setdefault("schema", schemas[-1])
            rest = urlencode([(k, v) for k, v in query if k != "schema"])
            text = urlunsplit(parts._replace(query=rest))
        return PostgresReviewStore(text, **options)
    if text in ("memory:", ":memory:"):
        return InMemoryReviewStore(**options)
    path = sqlite_path(text)
    if path is None:
        raise ValueError(
            f"unknown review store URL {redact_url(text)!r}: use a file path, sqlite:///path, "
            "postgresql://... or memory:"
        )
    from guardrail.review.sqlite_store import SQLiteReviewStore

    return SQLiteReviewStore(path, **options)

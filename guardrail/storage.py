"""Where decision logs and audit records live: local files or object storage, through fsspec.

Used by ``guardrail replay`` (:mod:`guardrail.decisions`), the decision log's ``ship_to`` and
``guardrail audit report`` (:func:`guardrail.calibration.records.load_records`).

A *source* is a local path or a URL. URLs go through `fsspec <https://filesystem-spec.readthedocs.io>`_
(``fsspec.core.url_to_fs``), so every file system fsspec knows works: ``s3://`` (package
``s3fs``, extra ``s3``), ``gs://`` (``gcsfs``), ``az://`` / ``abfs://`` (``adlfs``),
``http(s)://`` (read only), ``file://``, ``memory://``. Credentials and endpoints come from the
file system's usual places (for S3: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, the AWS
config files, instance roles; ``AWS_ENDPOINT_URL`` for an S3-compatible server) or from
``storage_options`` (``{"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...}``,
the CLI's ``--storage-option KEY=VALUE``), or fsspec's own ``FSSPEC_S3_ENDPOINT_URL``-style
environment variables.

Globs (``s3://bucket/decisions/dt=2026-12-*/*.jsonl*``, ``**`` too) are expanded by the file
system itself (:func:`expand`); local globs are the shell's business.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from guardrail._safety import redact_url

__all__ = ["expand", "filesystem", "is_url", "open_binary", "open_text", "upload"]

_GLOB = frozenset("*?[")


def is_url(source: str | Path) -> bool:
    """Whether ``source`` is a ``scheme://`` URL for fsspec (database URLs excepted)."""
    text = str(source).strip()
    return "://" in text and not text.startswith(("sqlite:", "postgresql://", "postgres://"))


def filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """``(fsspec file system, path inside it)`` for ``url``.

    Raises:
        ImportError: fsspec is not installed (extra ``scale``), or the file system's package is
            not (``s3fs`` for ``s3://``: extra ``s3``).
        ValueError: a protocol fsspec does not know.
    """
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:
        raise ImportError(
            f"reading {redact_url(url)} needs fsspec: pip install 'guardrail-uq[scale]' "
            "(and 'guardrail-uq[s3]' for s3://)"
        ) from exc
    try:
        fs, path = url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        raise ImportError(f"{exc} (for s3:// URLs: pip install 'guardrail-uq[s3]')") from exc
    return fs, str(path)


def expand(
    sources: Iterable[str | Path], storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """``sources`` with URL globs expanded (sorted matches, protocol kept); local paths and
    glob-free URLs as given.

    Raises:
        FileNotFoundError: a URL glob that matches nothing.
    """
    out: list[str] = []
    for src in sources:
        text = str(src)
        if is_url(text) and _GLOB & set(text.split("://", 1)[1]):
            fs, pattern = filesystem(text, storage_options)
            found = sorted(fs.glob(pattern))
            if not found:
                raise FileNotFoundError(f"{redact_url(text)}: no object matches")
            out.extend(fs.unstrip_protocol(p) for p in found)
        else:
            out.append(text)
    return out


@contextmanager
def open_binary(
    source: str | Path, storage_options: Mapping[str, Any] | None = None
) -> Iterator[IO[bytes]]:
    """``source`` opened for reading bytes (seekable: Parquet readers need it).

    Raises:
        FileNotFoundError / OSError: no such file or object, access refused.
    """
    text = str(source)
    if not is_url(text):
        with Path(text).open("rb") as fh:
            yield fh
        return
    fs, path = filesystem(text, storage_options)
    with fs.open(path, "rb") as fh:
        yield fh


@contextmanager
def open_text(
    source: str | Path, storage_options: Mapping[str, Any] | None = None
) -> Iterator[IO[str]]:
    """``source`` opened for reading UTF-8 text, universal newlines off (the CSV reader's
    ``newline=""``).

    Raises:
        FileNotFoundError / OSError: no such file or object, access refused.
    """
    with open_binary(source, storage_options) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            yield text
        finally:
            text.detach()


def upload(local: str | Path, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Copy the local file ``local`` to ``url`` (one object; replaced if it exists).

    Raises:
        OSError: the upload failed (fsspec and s3fs raise ``OSError`` subclasses:
            ``PermissionError``, ``FileNotFoundError`` for a missing bucket).
    """
    fs, path = filesystem(url, storage_options)
    fs.put_file(str(local), path)

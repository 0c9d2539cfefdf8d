"""Replay on a Dask cluster: the same :class:`~guardrail.decisions.replay.ReplayAccumulator`,
mapped over partitions of the logs and merged.

Partitions: one per Parquet row group, one per JSONL/CSV file (rotated daily files are natural
partitions), one per ``id`` range of a decision-log table (:data:`TABLE_PARTITION_ROWS` ids).
Each task loads the candidate policies from their files (once per worker process), folds its
partition in chunks and returns the accumulator's counts (a few KB); the client merges results
as they complete, so its memory stays bounded too. The merge is exact (integer counts), so the
report equals a single-process :func:`~guardrail.decisions.replay.replay_files` run bit for bit.
Paths must be readable by the workers: object-storage URLs (``s3://...``, with the same
``storage_options`` shipped to every task), a database URL, or a shared file system.
Needs ``dask[distributed]`` (extra ``scale``); why Dask and not Spark: ``docs/scale.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from guardrail.decisions.replay import (
    DEFAULT_CHUNK_ROWS,
    ReplayAccumulator,
    ReplayInputError,
    distinct_sources,
    iter_chunks,
    log_format,
)
from guardrail.policy import Policy, load_policy

__all__ = ["TABLE_PARTITION_ROWS", "Partition", "partitions", "replay_distributed"]

#: Ids per partition of a decision-log table.
TABLE_PARTITION_ROWS = 500_000


class Partition(NamedTuple):
    """One task's share: a source and, optionally, its Parquet row groups or table id range."""

    source: str
    row_groups: list[int] | None = None
    id_range: tuple[int, int] | None = None


def partitions(
    paths: Iterable[str | Path],
    *,
    storage_options: Mapping[str, Any] | None = None,
    table_rows: int = TABLE_PARTITION_ROWS,
) -> list[Partition]:
    """Work units: each Parquet row group, each decision-log table ``id`` range of
    ``table_rows`` ids, each other file whole. URL globs are expanded first
    (:func:`guardrail.storage.expand`).

    Raises:
        guardrail.decisions.replay.ReplayInputError: unknown format, unreadable file or table,
            a log named twice.
    """
    from guardrail import storage as sources

    out: list[Partition] = []
    for path in distinct_sources(sources.expand(paths, storage_options)):
        fmt = log_format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                with sources.open_binary(path, storage_options) as fh:
                    n = pq.ParquetFile(fh).num_row_groups
            except Exception as exc:
                raise ReplayInputError(f"{path}: not a readable Parquet file: {exc}") from exc
            out.extend(Partition(path, [i]) for i in range(n))
        elif fmt == "table":
            span = _id_range(path)
            if span is None:
                continue
            lo, hi = span
            out.extend(
                Partition(path, None, (a, min(a + table_rows - 1, hi)))
                for a in range(lo, hi + 1, table_rows)
            )
        else:
            out.append(Partition(path))
    return out


def _id_range(url: str) -> tuple[int, int] | None:
    from guardrail.decisions.table import DecisionTableError, is_table_url, open_decision_table

    try:
        with open_decision_table(url if is_table_url(url) else f"sqlite:{url}", create=False) as t:
            return t.id_range()
    except DecisionTableError as exc:
        raise ReplayInputError(str(exc)) from exc


@functools.lru_cache(maxsize=8)
def _load(
    files: tuple[str, ...],
) -> tuple[dict[str, Policy], dict[str, dict[tuple[Any, ...], str]]]:
    """The policies of ``files`` and their evaluation memo, once per worker process."""
    policies = [load_policy(f) for f in files]
    return {p.name: p for p in policies}, {}


def _replay_partition(
    part: Partition,
    policy_files: tuple[str, ...],
    labels: Mapping[str, tuple[int, float]] | None,
    chunk_rows: int,
    storage_options: Mapping[str, Any] | None = None,
) -> ReplayAccumulator:
    policies, memo = _load(policy_files)
    acc = ReplayAccumulator(policies, labels, memo=memo)
    for chunk in iter_chunks(
        part.source,
        chunk_rows,
        row_groups=part.row_groups,
        id_range=part.id_range,
        storage_options=storage_options,
    ):
        acc.add_rows(chunk)
    return acc


def replay_distributed(
    client: Any,
    paths: Iterable[str | Path],
    policies: Mapping[str, Policy],
    *,
    labels: Mapping[str, tuple[int, float]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    storage_options: Mapping[str, Any] | None = None,
    table_rows: int = TABLE_PARTITION_ROWS,
) -> ReplayAccumulator:
    """Replay ``paths`` on the Dask cluster behind ``client`` (a ``distributed.Client``).

    Args:
        client: connected ``distributed.Client`` (e.g. on a ``LocalCluster``).
        paths: decision logs the workers can read: local paths on a shared file system,
            object-storage URLs (globs expanded here), database URLs (``decision_log`` tables).
        policies: candidate policies; each must come from a file (``source_file``), which the
            workers load themselves.
        labels: request id -> (outcome, sampling rate), broadcast to the workers once.
        chunk_rows: rows per chunk inside a task.
        storage_options: fsspec options for the URLs (sent to every task).
        table_rows: ids per partition of a decision-log table.

    Returns:
        The merged accumulator (``policies`` attached, so ``report()`` works as locally).

    Raises:
        ValueError: a policy without a source file.
        Whatever a task raised (``ReplayInputError`` for a malformed log), re-raised here.
    """
    from distributed import as_completed

    files = []
    for name, p in sorted(policies.items()):
        if not p.source_file:
            raise ValueError(f"policy {name!r} has no source file the workers could load")
        files.append(str(Path(p.source_file).resolve()))
    labels_ref = client.scatter(dict(labels), broadcast=True) if labels else None
    futures = client.map(
        _replay_partition,
        partitions(paths, storage_options=storage_options, table_rows=table_rows),
        policy_files=tuple(files),
        labels=labels_ref,
        chunk_rows=chunk_rows,
        storage_options=dict(storage_options) if storage_options else None,
        pure=False,
    )
    total = ReplayAccumulator(policies, labels)
    for fut in as_completed(futures):  # type: ignore[no-untyped-call]
        total.merge(fut.result())
        fut.release()
    return total

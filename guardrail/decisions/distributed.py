"""Replay on a Dask cluster: the same :class:`~guardrail.decisions.replay.ReplayAccumulator`,
mapped over partitions of the logs and merged.

Partitions: one per Parquet row group, one per JSONL/CSV file (rotated daily files are natural
partitions). Each task loads the candidate policies from their files (once per worker process),
folds its partition in chunks and returns the accumulator's counts (a few KB); the client merges
results as they complete, so its memory stays bounded too. The merge is exact (integer counts),
so the report equals a single-process :func:`~guardrail.decisions.replay.replay_files` run bit for
bit. Paths must be readable by the workers (a shared file system or the same machine).
Needs ``dask[distributed]`` (extra ``scale``); why Dask and not Spark: ``docs/scale.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from guardrail.decisions.replay import (
    DEFAULT_CHUNK_ROWS,
    ReplayAccumulator,
    iter_chunks,
    log_format,
)
from guardrail.policy import Policy, load_policy

__all__ = ["partitions", "replay_distributed"]

Partition = tuple[str, list[int] | None]


def partitions(paths: Iterable[str | Path]) -> list[Partition]:
    """``(path, row groups)`` work units: each Parquet row group, each other file whole.

    Raises:
        guardrail.decisions.replay.ReplayInputError: unknown format.
    """
    out: list[Partition] = []
    for path in paths:
        p = Path(path)
        if log_format(p) == "parquet":
            import pyarrow.parquet as pq

            n = pq.ParquetFile(p).num_row_groups
            out.extend((str(p), [i]) for i in range(n))
        else:
            out.append((str(p), None))
    return out


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
) -> ReplayAccumulator:
    policies, memo = _load(policy_files)
    acc = ReplayAccumulator(policies, labels, memo=memo)
    path, groups = part
    for chunk in iter_chunks(path, chunk_rows, row_groups=groups):
        acc.add_rows(chunk)
    return acc


def replay_distributed(
    client: Any,
    paths: Iterable[str | Path],
    policies: Mapping[str, Policy],
    *,
    labels: Mapping[str, tuple[int, float]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ReplayAccumulator:
    """Replay ``paths`` on the Dask cluster behind ``client`` (a ``distributed.Client``).

    Args:
        client: connected ``distributed.Client`` (e.g. on a ``LocalCluster``).
        paths: decision logs the workers can read.
        policies: candidate policies; each must come from a file (``source_file``), which the
            workers load themselves.
        labels: request id -> (outcome, sampling rate), broadcast to the workers once.
        chunk_rows: rows per chunk inside a task.

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
        partitions(paths),
        policy_files=tuple(files),
        labels=labels_ref,
        chunk_rows=chunk_rows,
        pure=False,
    )
    total = ReplayAccumulator(policies, labels)
    for fut in as_completed(futures):  # type: ignore[no-untyped-call]
        total.merge(fut.result())
        fut.release()
    return total

"""The replay on a real two-process Dask cluster equals the single-process run exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrail.decisions.replay import replay_files
from guardrail.policy import load_policy

from .test_replay import CANDIDATE, ROWS, _flat

pytest.importorskip("distributed", reason="needs the scale extra (dask[distributed])")
pytest.importorskip("pyarrow", reason="needs the scale extra (pyarrow)")


def test_local_cluster_matches_single_process(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    from guardrail.decisions.distributed import partitions, replay_distributed

    policy_file = tmp_path / "t.guard"
    policy_file.write_text(CANDIDATE)
    policies = {"t": load_policy(policy_file)}
    # 60 rows: the six hand-made rows ten times, ids made unique, 7 row groups of <= 9 rows
    flat = [{**_flat(r), "request_id": f"{k}-{r['request_id']}"} for k in range(10) for r in ROWS]
    pq_path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(flat), pq_path, row_group_size=9)
    jl = tmp_path / "log.jsonl"
    jl.write_text("".join(json.dumps({"domain": "t", **r}) + "\n" for r in ROWS))
    parts = partitions([pq_path, jl])
    assert len(parts) == 7 + 1  # ceil(60 / 9) row groups + one JSONL file
    labels = {"0-4": (1, 0.5)}  # joined by request id on the workers
    local = replay_files([pq_path, jl], policies, labels=labels, chunk_rows=5)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        dist = replay_distributed(client, [pq_path, jl], policies, labels=labels, chunk_rows=5)
    assert dist.report() == local.report()
    # 66 rows, 11 undetermined (row 4 of each copy); the other 55 rows hold 5 distinct value
    # tuples (rows 1, 2, 3, 5, 6 of ROWS), evaluated once each in one process
    assert local.evaluations == 5
    assert 5 <= dist.evaluations <= 5 * 8  # at most once per tuple per partition
    assert local.report()["domains"]["t"]["changed"] == 44  # 4 per copy of the six rows

"""The replay on a real two-process Dask cluster equals the single-process run exactly: local
files, object-storage URLs (moto S3 server, tests/decisions/conftest.py) and a decision-log
table split into id ranges. One cluster for the module (start-up is the slow part)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guardrail.decisions.replay import replay_files
from guardrail.policy import load_policy

from .test_replay import CANDIDATE, ROWS, _flat

pytest.importorskip("distributed", reason="needs the scale extra (dask[distributed])")
pytest.importorskip("pyarrow", reason="needs the scale extra (pyarrow)")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        assert len(c.scheduler_info()["workers"]) == 2
        yield c


def test_local_cluster_matches_single_process(tmp_path: Path, client: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    dist = replay_distributed(client, [pq_path, jl], policies, labels=labels, chunk_rows=5)
    assert dist.report() == local.report()
    # 66 rows, 11 undetermined (row 4 of each copy); the other 55 rows hold 5 distinct value
    # tuples (rows 1, 2, 3, 5, 6 of ROWS), evaluated once each in one process
    assert local.evaluations == 5
    assert 5 <= dist.evaluations <= 5 * 8  # at most once per tuple per partition
    assert local.report()["domains"]["t"]["changed"] == 44  # 4 per copy of the six rows


def test_object_storage_and_table_partitions(
    tmp_path: Path, client: Any, s3: tuple[str, dict[str, Any]]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from guardrail.decisions import JSONLDecisionLog
    from guardrail.decisions.distributed import partitions, replay_distributed
    from guardrail.decisions.table import open_decision_table
    from guardrail.storage import upload

    from .test_table import records

    bucket, options = s3
    policy_file = tmp_path / "t.guard"
    policy_file.write_text(CANDIDATE)
    policies = {"t": load_policy(policy_file)}
    # Parquet in S3: the 60 rows of the test above, 4 row groups of <= 16
    flat = [{**_flat(r), "request_id": f"{k}-{r['request_id']}"} for k in range(10) for r in ROWS]
    pq_path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(flat), pq_path, row_group_size=16)
    upload(pq_path, f"{bucket}/logs/log.parquet", options)
    # a decision-log table of 7 x 6 = 42 records, partitions of 10 ids -> 5 id ranges
    db = f"sqlite:///{tmp_path / 'review.db'}"
    local_jl = JSONLDecisionLog(tmp_path / "same.jsonl")
    with open_decision_table(db) as table:
        for _ in range(7):
            for rec in records():
                table.write(rec)
                local_jl.write(rec)
    local_jl.close()
    sources = [f"{bucket}/logs/*.parquet", db]
    parts = partitions(sources, storage_options=options, table_rows=10)
    assert [(p.row_groups, p.id_range) for p in parts] == [
        ([0], None), ([1], None), ([2], None), ([3], None),
        (None, (1, 10)), (None, (11, 20)), (None, (21, 30)), (None, (31, 40)), (None, (41, 42)),
    ]  # fmt: skip
    dist = replay_distributed(
        client, sources, policies, chunk_rows=7, storage_options=options, table_rows=10
    )
    # the same rows read from local files, in one process
    local = replay_files([pq_path, tmp_path / "same.jsonl"], policies)
    assert dist.report() == local.report()
    # 4 changes per copy of the six rows: 10 copies in Parquet, 7 in the table
    assert dist.report()["changed"] == 4 * 17


def test_a_malformed_row_is_named_by_its_row_in_the_file(tmp_path: Path, client: Any) -> None:
    # a task reads one row group; its position counted from the start of that row group ("row 0"
    # for the first row of any group) named the wrong row. 20 rows in row groups of 9: the bad
    # row is index 13, the 5th row of the second group, row 14 of the file
    import pyarrow as pa
    import pyarrow.parquet as pq

    from guardrail.decisions.distributed import replay_distributed
    from guardrail.decisions.replay import ReplayInputError

    policy_file = tmp_path / "t.guard"
    policy_file.write_text(CANDIDATE)
    flat = [{**_flat(ROWS[1]), "request_id": str(i)} for i in range(20)]
    flat[13]["action"] = "maybe"
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(flat), path, row_group_size=9)
    with pytest.raises(ReplayInputError, match=r"log.parquet row 14: unknown action 'maybe'"):
        replay_distributed(client, [path], {"t": load_policy(policy_file)})

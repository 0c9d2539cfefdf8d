"""Decision logs in object storage: a real S3-compatible server (moto, tests/decisions/conftest.py)
on 127.0.0.1. Shipping rotated JSONL files there, and replaying JSONL / CSV / Parquet from s3://
URLs (globs too) gives the same report as the local files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrail.cli import app
from guardrail.decisions import JSONLDecisionLog
from guardrail.decisions.replay import ReplayInputError, replay_files
from guardrail.policy import load_policy
from guardrail.storage import upload

from .test_replay import CANDIDATE, ROWS, _flat
from .test_table import TRANSITIONS, records

runner = CliRunner()
S3 = tuple[str, dict[str, Any]]


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "t.guard"
    path.write_text(CANDIDATE)
    return path


def _cli_options(options: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in options.items():
        out += ["--storage-option", f"{k}={json.dumps(v) if isinstance(v, dict) else v}"]
    return out


def test_rotated_files_are_shipped_and_replayed_from_s3(tmp_path: Path, s3: S3) -> None:
    bucket, options = s3
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    # a record serialises to 312-362 bytes (with the newline): two never fit in 500 bytes, so
    # the handler rotates before every record but the first: 5 rotated files are shipped and
    # the sixth record stays in the active file
    log = JSONLDecisionLog(
        tmp_path / "decisions.jsonl",
        rotate="size",
        max_bytes=500,
        ship_to=f"{bucket}/shipped/",
        storage_options=options,
    )
    for rec in records():
        log.write(rec)
    log.close()
    assert len(log.shipped) == 5
    listed = sorted(fs.unstrip_protocol(p) for p in fs.ls(f"{bucket}/shipped"))
    assert listed == sorted(log.shipped)
    shipped_ids = [
        json.loads(line)["request_id"]
        for url in log.shipped
        for line in fs.cat_file(url).decode().splitlines()
    ]
    active = [json.loads(x)["request_id"] for x in (tmp_path / "decisions.jsonl").open()]
    assert sorted(shipped_ids + active) == ["1", "2", "3", "4", "5", "6"]  # each exactly once

    policy = _policy(tmp_path)
    policies = {"t": load_policy(policy)}
    whole = tmp_path / "all.jsonl"
    whole.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records()))
    ref = replay_files([whole], policies).report()
    assert ref["domains"]["t"]["transitions"] == TRANSITIONS
    glob = f"{bucket}/shipped/decisions.jsonl.*"
    sources = [glob, str(tmp_path / "decisions.jsonl")]
    assert replay_files(sources, policies, storage_options=options).report() == ref
    res = runner.invoke(
        app, ["replay", str(policy), *sources, "--format", "json", *_cli_options(options)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(json.dumps(ref))


def test_csv_and_parquet_objects_read_like_local_files(tmp_path: Path, s3: S3) -> None:
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the scale extra")
    import pyarrow.parquet as pq

    bucket, options = s3
    flat = [_flat(r) for r in ROWS]
    csv_path = tmp_path / "log.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(flat[0]))
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in row.items()} for row in flat)
    pq_path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(flat), pq_path, row_group_size=2)
    for p in (csv_path, pq_path):
        upload(p, f"{bucket}/logs/{p.name}", options)
    policies = {"t": load_policy(_policy(tmp_path))}
    local = replay_files([csv_path, pq_path], policies).report()
    remote = replay_files(
        [f"{bucket}/logs/log.csv", f"{bucket}/logs/log.parquet"],
        policies,
        storage_options=options,
        chunk_rows=4,
    ).report()
    assert remote == local
    # both copies of the six rows: 2 x 4 changes; labelled rows 1-3 twice
    assert remote["changed"] == 8 and remote["domains"]["t"]["labelled"] == 6


def test_missing_objects_and_failed_uploads(tmp_path: Path, s3: S3) -> None:
    bucket, options = s3
    policies = {"t": load_policy(_policy(tmp_path))}
    with pytest.raises(ReplayInputError, match="no such file or object"):
        replay_files([f"{bucket}/absent.jsonl"], policies, storage_options=options)
    with pytest.raises(ReplayInputError, match="no object matches"):
        replay_files([f"{bucket}/none-*.jsonl"], policies, storage_options=options)
    args = ["replay", str(tmp_path / "t.guard"), f"{bucket}/none-*.jsonl", "--format", "json"]
    res = runner.invoke(app, [*args, *_cli_options(options)])
    assert res.exit_code == 2 and "no object matches" in res.stdout
    # the bucket does not exist: the rotation's upload fails, the record is still written
    log = JSONLDecisionLog(
        tmp_path / "d.jsonl",
        rotate="size",
        max_bytes=10,
        ship_to=f"{bucket}-absent/x",
        storage_options=options,
    )
    recs = records()
    log.write(recs[0])
    with pytest.raises(OSError, match="kept locally"):
        log.write(recs[1])  # rotates d.jsonl -> d.jsonl.1, upload fails
    log.close()
    assert log.shipped == []
    files = sorted(tmp_path.glob("d.jsonl*"))
    ids = [json.loads(line)["request_id"] for f in files for line in f.open()]
    assert sorted(ids) == ["1", "2"]


def test_audit_records_from_s3_equal_the_local_audit(
    tmp_path: Path, s3: S3, repo_root: Path
) -> None:
    """`guardrail audit report` on the documented audit run's records (docs/audit-run/, 732
    graded SmolLM2 answers) split over two objects and read through a glob: the same report as
    the local file, files aside."""
    bucket, options = s3
    src = repo_root / "docs" / "audit-run" / "records.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    for i, part in enumerate((lines[:half], lines[half:])):
        p = tmp_path / f"part-{i}.jsonl"
        p.write_text("".join(part), encoding="utf-8")
        upload(p, f"{bucket}/audit/part-{i}.jsonl", options)
    args = ["audit", "report", "--format", "json", "--bootstrap", "0"]
    args += ["--group-by", "domain,source"]
    local = runner.invoke(app, [*args[:2], str(src), *args[2:]])
    remote = runner.invoke(
        app, [*args[:2], f"{bucket}/audit/part-*.jsonl", *args[2:], *_cli_options(options)]
    )
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b.pop("files") == [f"{bucket}/audit/part-0.jsonl", f"{bucket}/audit/part-1.jsonl"]
    a.pop("files")
    assert a == b
    # counted from the file itself: every line is one graded answer
    n_correct = sum(json.loads(x)["correct"] is True for x in lines)
    assert b["overall"]["n"] == len(lines) == 732 and b["overall"]["n_correct"] == n_correct

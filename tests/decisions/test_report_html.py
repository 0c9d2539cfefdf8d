"""``guardrail replay --html``: the page's numbers equal the JSON report's, and log strings are
escaped."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrail.cli import app

from .test_replay import CANDIDATE, ROWS

pytest.importorskip("jinja2", reason="the HTML report needs jinja2 (extra web)")

runner = CliRunner()
EVIL = '<script>alert("x")</script>&amp;'


class Cells(HTMLParser):
    """Collects every element with ``data-key``: (key, data-value, text inside), in page order
    (the overview repeats some of a domain's cells)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[tuple[str, ...], str | None, str]] = []
        self._open: list[tuple[tuple[str, ...], str | None, list[str]]] = []
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if a.get("data-key") is not None:
            self._open.append((tuple(json.loads(a["data-key"] or "")), a.get("data-value"), []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "span") and self._open:
            key, value, text = self._open.pop()
            self.found.append((key, value, "".join(text).strip()))

    @property
    def cells(self) -> dict[tuple[str, ...], tuple[str | None, str]]:
        return {k: (v, t) for k, v, t in self.found}

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open:
            self._open[-1][2].append(data)


def _walk(report: dict[str, Any], key: tuple[str, ...]) -> Any:
    if len(key) == 1:
        return report[key[0]]
    node: Any = report["domains"][key[0]]
    if key[1] == "matrix":  # logged -> candidate rows, from the changed transitions + diagonal
        old, new = key[2], key[3]
        if old != new:
            return node["transitions"].get(f"{old}->{new}", 0)
        left = sum(c for k, c in node["transitions"].items() if k.startswith(f"{old}->"))
        return node["before"]["counts"][old] - left
    for part in key[1:]:
        node = node[part]
    return node


def test_html_numbers_equal_the_json_report(tmp_path: Path) -> None:
    policy = tmp_path / "t.guard"
    policy.write_text(CANDIDATE)
    log = tmp_path / "log.jsonl"
    lines = [json.dumps({"domain": "t", **r}) for r in ROWS]
    # a domain without a candidate policy, named to break unescaped HTML
    lines.append(json.dumps({"domain": EVIL, "time": ROWS[0]["time"], "action": "pass",
                             "values": {"hedges": 0}}))  # fmt: skip
    log.write_text("\n".join(lines) + "\n")
    page = tmp_path / "diff.html"
    res = runner.invoke(
        app, ["replay", str(policy), str(log), "--format", "json", "--html", str(page)]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html  # the domain name is escaped, not markup
    parser = Cells()
    parser.feed(html)
    assert parser.scripts == 0
    assert EVIL in "".join(parser.text)  # shown literally after unescaping

    checked = 0
    for key, value, text in parser.found:
        want = _walk(report, key)
        if key[-1] == "shown_accuracy":
            if want is None:
                assert value is None and text == "no labels"
            else:
                fields = ("accuracy", "low", "high", "n")
                assert json.loads(value or "") == {k: want[k] for k in fields}
                assert text.startswith(f"{want['accuracy']:.3f} [{want['low']:.3f}, ")
        else:
            assert value is not None and float(value) == want, key
            if key[-1] == "review_per_day":
                assert text == f"{want:.1f}"
            elif key[-1] == "abstention_rate":
                assert text == f"{want:.3f}"
            else:
                assert text == str(want), key
        checked += 1
    # the transition matrix of domain t, by hand from test_replay.ROWS: logged pass = rows 2-5
    # (2 stays pass, 3 -> review, 4 -> undetermined, 5 -> abstain); logged review = rows 1, 6
    # (1 -> abstain, 6 stays review)
    matrix = {k[2:]: int(v or 0) for k, (v, _) in parser.cells.items() if k[:2] == ("t", "matrix")}
    assert matrix == {
        ("pass", "pass"): 1, ("pass", "review"): 1, ("pass", "abstain"): 1,
        ("pass", "undetermined"): 1, ("review", "pass"): 0, ("review", "review"): 1,
        ("review", "abstain"): 1, ("review", "undetermined"): 0,
    }  # fmt: skip
    # accuracy with labels (before: rows 2, 3 -> 0.5, n=2) is on the page
    assert parser.cells[("t", "before", "shown_accuracy")][1].startswith("0.500 [")
    assert ("t", "missing_signals", "verbalized") in parser.cells
    # rows, changed, 6 overview cells x 2 domains, summary rows, matrix cells, notes
    assert checked >= 2 + 12 + 8 + 10
    assert len(parser.cells) < checked  # the overview's cells repeat the summaries' keys
    assert report["domains"][EVIL]["no_policy"] is True

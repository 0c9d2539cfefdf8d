"""Policy-file resource limits (issue 12, finding 5): each abuse is an ordinary diagnostic with a
position, and load/check stay linear. Costs are asserted as sizes and operation counts, never as
wall time."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from guardrail.policy import PolicyError, load_policy
from guardrail.policy.checker import _Checker as Checker
from guardrail.policy.limits import (
    MAX_DIAGNOSTICS,
    MAX_FORMAT_WIDTH,
    MAX_NESTING,
    MAX_PLACEHOLDERS,
    MAX_POLICY_BYTES,
    MAX_STRING_CHARS,
)
from guardrail.policy.template import parse_template, render
from tests.policy.helpers import BUNDLED, diags, wrap


def _rule(cond: str = "consistency < 0.5", msg: str = '"Check this."') -> str:
    return f"  rule a {{\n    when {cond}\n    then notice {msg}\n  }}\n"


def _codes(text: str) -> list[str]:
    return [d.code for d in diags(text) if d.severity == "error"]


def _peak_bytes(text: str) -> int:
    tracemalloc.start()
    try:
        diags(text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_format_width_is_refused_at_check_time() -> None:
    text = wrap(_rule(msg='"agreement {consistency:>1000000000}"'))
    found = [d for d in diags(text) if d.code == "format-too-wide"]
    assert len(found) == 1 and (found[0].line, found[0].column) == (8, 28)
    assert f"over the limit of {MAX_FORMAT_WIDTH}" in found[0].message
    # checking built no 1 GB string (it did, to test the spec): the peak stays under 20 MB
    assert _peak_bytes(text) < 20_000_000
    # and a spec within the limit still works; render() never honours an oversized one
    assert _codes(wrap(_rule(msg='"{consistency:>10.1%}"'))) == []
    parts = parse_template("{consistency:>1000000000}")
    assert render(parts, lambda _: 0.5) == "0.5"


def test_placeholder_count_limit_and_linear_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    too_many = '"' + "{domain}" * (MAX_PLACEHOLDERS + 1) + '"'
    found = [d for d in diags(wrap(_rule(msg=too_many))) if d.code == "too-many-placeholders"]
    # 33 placeholders of 8 characters: the 33rd starts at decoded offset 32 * 8 = 256, i.e.
    # column 17 (the quote) + 1 + 256 = 274 of line 8
    assert len(found) == 1 and (found[0].line, found[0].column) == (8, 274)
    # spans are computed with one pass over the string per message, not one per placeholder
    scanned: list[int] = []
    real = Checker._decoded_columns

    def counting(self: Checker, s: object) -> list[int]:
        out = real(self, s)  # type: ignore[arg-type]
        scanned.append(len(out))
        return out

    monkeypatch.setattr(Checker, "_decoded_columns", counting)
    ok = '"' + "{domain}" * MAX_PLACEHOLDERS + '"'
    assert _codes(wrap(_rule(msg=ok))) == []
    assert scanned == [8 * MAX_PLACEHOLDERS + 1]  # one scan of 256 characters (+ the end)


def test_long_string_and_large_file() -> None:
    long = wrap(_rule(msg='"' + "a" * (MAX_STRING_CHARS + 1) + '"'))
    found = [d for d in diags(long) if d.code == "string-too-long"]
    assert len(found) == 1 and (found[0].line, found[0].column) == (8, 17)
    big = wrap(_rule(msg='"x"') + "# " + "y" * MAX_POLICY_BYTES + "\n")
    assert _codes(big) == ["policy-too-large"]
    # refused before parsing: no parse tree, no per-token objects for 256 KiB of text
    assert _peak_bytes(big) < 4 * len(big)


def test_oversized_or_endless_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.guard"
    path.write_text(wrap(_rule()) + "#" * (MAX_POLICY_BYTES + 10), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.diagnostics[0].code == "policy-too-large"
    if Path("/dev/zero").exists():
        with pytest.raises(PolicyError) as info:
            load_policy("/dev/zero")
        assert info.value.diagnostics[0].code == "policy-too-large"


def test_unknown_signal_diagnostics_are_capped() -> None:
    n = 4000
    cond = " or ".join(f"zz{i} < 0.5" for i in range(n))
    found = diags(wrap(_rule(cond=cond)))
    assert len(found) == MAX_DIAGNOSTICS + 1
    last = found[-1]
    assert last.code == "too-many-errors" and last.message.startswith(
        f"{n - MAX_DIAGNOSTICS} more diagnostics"
    )
    # the dropped ones never got a copy of the (60 KB) source line and caret
    assert _peak_bytes(wrap(_rule(cond=cond))) < 60_000 * (MAX_DIAGNOSTICS + 50) * 3


def test_nesting_limit() -> None:
    deep = "(" * (MAX_NESTING + 1) + "consistency < 0.5" + ")" * (MAX_NESTING + 1)
    found = [d for d in diags(wrap(_rule(cond=deep))) if d.code == "too-complex"]
    # reported at the condition's `when` (line 7, column 5), like the checker's own limit
    assert len(found) == 1 and (found[0].line, found[0].column) == (7, 5)
    ok = "(" * MAX_NESTING + "consistency < 0.5" + ")" * MAX_NESTING
    assert _codes(wrap(_rule(cond=ok))) == []
    nots = "not " * (MAX_NESTING + 1) + "consistency < 0.5"
    assert "too-complex" in _codes(wrap(_rule(cond=nots)))


def test_backslash_run_is_bounded() -> None:
    # 100 KB of unknown escapes (\q): one diagnostic each was 50,000 carets over a 100 KB line
    run = "\\q" * 50_000
    found = diags(wrap(_rule(msg='"' + run + '"')))
    assert [d.code for d in found][:1] == ["string-too-long"]
    assert len(found) <= MAX_DIAGNOSTICS + 1
    unterminated = diags(wrap(_rule(msg='"' + "\\" * 100_000)))
    assert [d.code for d in unterminated] == ["unterminated-string"]


def test_samples_with_5000_digits() -> None:
    text = wrap(_rule()).replace("samples 5", "samples " + "9" * 5000)
    found = [d for d in diags(text) if d.severity == "error"]
    # was internal-error (OverflowError); now the number is reported where it is, and its
    # stand-in value 0 is then out of range for samples like any other bad count
    assert found[0].code == "number-too-long" and (found[0].line, found[0].column) == (3, 13)
    assert "internal-error" not in [d.code for d in found]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_policies_are_far_below_the_limits(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) < MAX_POLICY_BYTES // 10
    assert diags(text, str(path)) == [] or all(d.severity == "warning" for d in diags(text))

"""Every policy written in docs/policy-language.md checks clean (the docs cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

from guardrail.policy import check_text
from tests.policy.helpers import REPO, profile_json

DOC = REPO / "docs" / "policy-language.md"


def _policy_blocks() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    out = []
    for b in blocks:
        code = [ln for ln in b.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if code and code[0].startswith("policy "):
            out.append(b)
    return out


def test_doc_policies_check_clean(tmp_path: Path) -> None:
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "medical.json").write_text(
        profile_json(domain="medical"), encoding="utf-8"
    )
    (tmp_path / "p").mkdir()
    blocks = _policy_blocks()
    assert len(blocks) >= 2
    for text in blocks:
        text = re.sub(r"\s+# <-.*", "", text)  # explanatory arrows in the first example
        policy, diags = check_text(text, "doc.guard", base_dir=tmp_path / "p")
        assert policy is not None, [d.render() for d in diags]
        assert [d for d in diags if d.severity == "error"] == []
        assert all(r.passed for r in policy.run_examples())

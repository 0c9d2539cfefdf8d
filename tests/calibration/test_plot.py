"""Reliability diagrams: files are written, and a clear message without matplotlib."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardrail.calibration import AuditRecord, audit
from guardrail.calibration import plot as plot_mod


def _report() -> Any:
    rng = np.random.default_rng(0)
    recs = [
        AuditRecord(confidence=float(c), correct=bool(rng.random() < c), domain=d)
        for d in ("medical", "finance")
        for c in rng.random(200)
    ]
    return audit(recs, n_bootstrap=20)


def test_png_and_svg_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    files = plot_mod.reliability_diagram(_report(), tmp_path / "rel.png")
    assert [f.suffix for f in files] == [".png", ".svg"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = files[1].read_text()
    assert "<svg" in svg and "medical" in svg and "ECE" in svg


def test_clear_message_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert plot_mod.matplotlib_available() is False
    with pytest.raises(plot_mod.PlotUnavailableError, match=r"guardrail-uq\[plot\]"):
        plot_mod.reliability_diagram(_report(), "unused.png")

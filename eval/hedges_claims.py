"""Hedge cues before / after counting only the answer's own claims (issue 10, part 5).

"before" = ``detect_hedges(text, claims_only=False)`` (every cue outside code and quotations, the
behaviour before the change); "after" = the default ``claims_only=True`` (cues in a designated
confidence statement or in talk about confidence / the task / the question are excluded).

Data (``$GUARDRAIL_SHARED_DATA`` or ``/work/shared/data``, and this repository's fixtures):

* GPT-4o-mini SimpleQA (``model_outputs/gpt4o_mini_verbalized``, normal + distractors, n = 40):
  ``predicted_answer``; correct = ``output == 1``.
* LSAT-AR (``model_outputs/llm_confidence_json``, 11 models): the reply's reasoning (the string
  values of its JSON object, or the whole reply when it has none); correct = the authors'
  ``correct`` in ``llm-confidence-correct.csv``.
* SmolLM2-135M inline replies (``tests/fixtures/smollm2_verbalized.jsonl``, n = 100): the reply as
  the model wrote it, with its ``Confidence: NN%`` line; correct as in ``bench/bench_signals.py``.
* XSTest (``model_outputs/xstest_refusals``, 5 models x 450): no correctness; label ``hedged``
  as a refusal detector (refusal = full or partial), F1 before / after.

Prints, per data set: n, cues counted, cues excluded, hedged answers, accuracy of hedged vs other
answers with 95% Clopper-Pearson intervals, and AUROC of 1 / (1 + hedges) for correctness.

Usage: ``python eval/hedges_claims.py``
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guardrail.calibration import auroc
from guardrail.calibration.stats import clopper_pearson
from guardrail.signals.hedges import detect_hedges
from guardrail.signals.structured import find_json_objects

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("GUARDRAIL_SHARED_DATA", "/work/shared/data"))


def simpleqa() -> list[tuple[str, bool]]:
    out = []
    for kind in ("normal", "distractors"):
        path = (
            data_dir()
            / "model_outputs/gpt4o_mini_verbalized"
            / f"gpt-4o-mini_{kind}_0_20_results.json"
        )
        for item in json.loads(path.read_text("utf-8")).values():
            out.append((str(item["predicted_answer"]), item["output"] == 1))
    return out


def _reasoning(content: str) -> str:
    objs, _ = find_json_objects(content)
    texts = [str(v) for o in objs for k, v in o.value.items() if isinstance(v, str) and len(v) > 20]
    return "\n".join(texts) if texts else content


def lsat() -> list[tuple[str, bool]]:
    csv.field_size_limit(2**31 - 1)
    base = data_dir() / "model_outputs/llm_confidence_json"
    correct: dict[tuple[str, str], bool] = {}
    with (base / "llm-confidence-correct.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            if r["qset"] == "lsat_ar_test":
                correct[(r["llm"], r["question_id"])] = r["correct"].upper() == "TRUE"
    out = []
    for path in sorted((base / "parsed").glob("lsat_ar_test_*.csv")):
        model = path.stem[len("lsat_ar_test_") :]
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                ok = correct.get((model, r["Question ID"]))
                if ok is not None:
                    out.append((_reasoning(r["content"]), ok))
    return out


def smollm2() -> list[tuple[str, bool]]:
    spec = importlib.util.spec_from_file_location(
        "bench_signals", REPO / "bench" / "bench_signals.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    fix = REPO / "tests" / "fixtures"
    aliases: dict[str, Any] = {}
    for line in (fix / "smollm2_samples.jsonl").read_text("utf-8").splitlines():
        s = json.loads(line)
        if s["kind"] == "samples":
            aliases[s["question"]] = s["aliases"]
    out = []
    for line in (fix / "smollm2_verbalized.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        if r["mode"] != "inline":
            continue
        if r["source"] == "triviaqa":
            ok = bench.trivia_correct(r["reply"], aliases.get(r["question"], [r["gold"]]))
        else:
            ok = bench.mc_letter(r["reply"]) == r["gold"]
        out.append((r["reply"], bool(ok)))
    return out


def _acc(ys: Sequence[bool]) -> str:
    if not ys:
        return "n=0"
    k, n = sum(ys), len(ys)
    ci = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def report(name: str, items: list[tuple[str, bool]]) -> None:
    ys = [y for _, y in items]
    for label, claims_only in (("before", False), ("after", True)):
        res = [detect_hedges(t, claims_only=claims_only) for t, _ in items]
        cues = sum(r.hedges + r.boosters for r in res)
        excl = sum(len(r.excluded) for r in res)
        hedged = [y for r, y in zip(res, ys, strict=True) if r.label == "hedged"]
        other = [y for r, y in zip(res, ys, strict=True) if r.label != "hedged"]
        score = [1.0 / (1 + r.hedges) for r in res]
        au_res = auroc(score, ys)
        au = au_res.value if au_res.value is not None else float("nan")
        print(
            f"| {name} | {label} | {len(items)} | {cues} | {excl} | {len(hedged)} "
            f"| {_acc(hedged)} | {_acc(other)} | {au:.3f} |"
        )


def xstest() -> None:
    print(
        "\n| XSTest model | version | n | refusals | hedged | cues excluded | F1 hedged=refusal |"
    )
    print("|---|---|---|---|---|---|---|")
    base = data_dir() / "model_outputs/xstest_refusals"
    for path in sorted(base.glob("xstest_v2_completions_*.csv")):
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        ys = [r["final_label"].startswith(("2_", "3_")) for r in rows]
        for label, claims_only in (("before", False), ("after", True)):
            res = [detect_hedges(r["completion"], claims_only=claims_only) for r in rows]
            pred = [r.label == "hedged" for r in res]
            tp = sum(p and y for p, y in zip(pred, ys, strict=True))
            fp = sum(p and not y for p, y in zip(pred, ys, strict=True))
            fn = sum(y and not p for p, y in zip(pred, ys, strict=True))
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            excl = sum(len(r.excluded) for r in res)
            model = path.stem.removeprefix("xstest_v2_completions_")
            print(
                f"| {model} | {label} | {len(rows)} | {sum(ys)} | {sum(pred)} | {excl} | {f1:.3f} |"
            )


def main() -> int:
    print(
        "| data | version | n | cues counted | cues excluded | hedged | accuracy, hedged "
        "| accuracy, not hedged | AUROC 1/(1+h) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    report("GPT-4o-mini SimpleQA (normal + distractors)", simpleqa())
    report("LSAT-AR reasoning, 11 models", lsat())
    report("SmolLM2-135M inline replies", smollm2())
    xstest()
    return 0


if __name__ == "__main__":
    sys.exit(main())

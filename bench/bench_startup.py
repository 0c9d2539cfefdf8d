"""Start-up time of the command line and the SDK import, against ``python -c pass``.

Each case runs in a fresh interpreter (``subprocess``), the cases interleaved round by round so
that load on the machine hits them alike; the script prints, per case, the median wall time with
its min-max over the rounds and the median *overhead* above the baseline ``python -c pass``
measured in the same rounds (per round: case minus baseline, then the median). It also checks
which heavy modules each case imported (``sys.modules`` after the work, in a separate run).

Cases:
* ``guardrail --help``
* ``guardrail check policies/`` (the four bundled policies)
* ``from guardrail import Guard`` (must not import numpy: profiles load it on first use)

Run: ``python bench/bench_startup.py [--rounds 21]`` from the repository root (about 30 s). The
target (issue 11): each command at most 0.25 s above ``python -c pass``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "httpx", "lark", "pydantic", "rapidfuzz", "opentelemetry", "matplotlib")

CLI = "from guardrail.cli import main; main()"
CASES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "guardrail --help": ["-c", CLI, "--help"],
    "guardrail check policies/": ["-c", CLI, "check", "policies/"],
    "from guardrail import Guard": ["-c", "from guardrail import Guard"],
}
PROBE = {
    "guardrail --help": "import sys; sys.argv = ['guardrail', '--help']\n"
    "from guardrail.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n",
    "guardrail check policies/": "import sys; sys.argv = ['guardrail', 'check', 'policies/']\n"
    "from guardrail.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n",
    "from guardrail import Guard": "from guardrail import Guard\n",
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def _heavy_imports(code: str, env: dict[str, str]) -> list[str]:
    probe = code + (
        "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set("
        + repr(HEAVY)
        + "))), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return out.stderr.strip().splitlines()[-1].split() if out.stderr.strip() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args()
    env = _env()
    for case in CASES.values():  # warm the bytecode cache and the OS file cache
        _run(case, env)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, case in CASES.items():
            times[name].append(_run(case, env))
    load_after = os.getloadavg()[0]
    base = times["python -c pass"]
    print(
        f"python {sys.version.split()[0]}, {args.rounds} interleaved rounds, "
        f"load average {load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'case':30s} {'median':>8s} {'min-max':>15s} {'above pass (median)':>20s}  heavy imports"
    )
    for name, ts in times.items():
        over = statistics.median(t - b for t, b in zip(ts, base, strict=True))
        heavy = "" if name not in PROBE else " ".join(_heavy_imports(PROBE[name], env)) or "-"
        print(
            f"{name:30s} {statistics.median(ts):7.3f}s {min(ts):6.3f}-{max(ts):6.3f}s "
            f"{'' if name == 'python -c pass' else f'{over:+.3f}s':>20s}  {heavy}"
        )


if __name__ == "__main__":
    main()

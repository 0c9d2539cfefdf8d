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


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh interpreter running ``args``.
    CPU time is what the process itself spent: on a loaded machine it moves much less than the
    wall time, which includes waiting for a core."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


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
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, case in CASES.items():
            wall, used = _run(case, env)
            times[name].append(wall)
            cpu[name].append(used)
    load_after = os.getloadavg()[0]
    base, base_cpu = times["python -c pass"], cpu["python -c pass"]
    print(
        f"python {sys.version.split()[0]}, {args.rounds} interleaved rounds, "
        f"load average {load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'case':28s} {'wall median':>11s} {'min-max':>13s} {'above pass':>10s} "
        f"{'CPU median':>10s} {'above pass':>10s}  heavy imports"
    )
    for name, ts in times.items():
        over = statistics.median(t - b for t, b in zip(ts, base, strict=True))
        over_cpu = statistics.median(c - b for c, b in zip(cpu[name], base_cpu, strict=True))
        heavy = "" if name not in PROBE else " ".join(_heavy_imports(PROBE[name], env)) or "-"
        first = name == "python -c pass"
        print(
            f"{name:28s} {statistics.median(ts):10.3f}s {min(ts):5.3f}-{max(ts):5.3f}s "
            f"{'' if first else f'{over:+.3f}s':>10s} {statistics.median(cpu[name]):9.3f}s "
            f"{'' if first else f'{over_cpu:+.3f}s':>10s}  {heavy}"
        )


if __name__ == "__main__":
    main()

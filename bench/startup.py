"""Start-up benchmark: the whole-process wall time of ``import ampkit``, of building a client and
of ``ampkit --help``, beside the floor (``python -c pass``) measured in the same run.

Each command runs ``--runs`` times (round-robin, so a busy machine slows them all alike); the
median is printed with its ratio to the floor and the budget of issue 15 §5 (``import ampkit``
< 0.15 s, ``ampkit --help`` < 0.5 s).  ``--modules`` also prints which optional packages each
command loads.  ``--src DIR`` measures another checkout (its ``src`` goes first on PYTHONPATH),
e.g. the commit before a change::

    git worktree add /tmp/before HEAD
    .venv/bin/python bench/startup.py --src /tmp/before/src
    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OPTIONAL = ("duckdb", "pyarrow", "starlette", "uvicorn", "mcp", "psycopg", "typer", "rich",
            "matplotlib", "yaml")
CLI = "import sys; sys.argv = ['ampkit', '--help']; from ampkit.cli import main; main()"
CASES: dict[str, tuple[str, float | None]] = {
    "python -c pass": ("pass", None),
    "import ampkit": ("import ampkit", 0.15),
    "import ampkit; ampkit.Amplitude('k')": ("import ampkit; ampkit.Amplitude('k').close()", None),
    "ampkit --help": (CLI, 0.5),
}
SHOW = """
import contextlib, io, sys
code, optional = sys.argv[1], sys.argv[2].split(',')
with contextlib.redirect_stdout(io.StringIO()):
    try:
        exec(code)
    except SystemExit:
        pass
top = {m.partition('.')[0] for m in sys.modules}
print(' '.join(m for m in optional if m in top) or '-', len(sys.modules))
"""


def command(code: str) -> list[str]:
    if code == CLI:  # the console script itself, when there is one beside this python
        script = Path(sys.executable).with_name("ampkit")
        if script.exists():
            return [str(script), "--help"]
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--src", type=Path, help="a checkout's src directory to measure instead")
    parser.add_argument("--modules", action="store_true",
                        help="also print the optional packages each command loads")
    args = parser.parse_args()
    env = {**os.environ, "AMPLITUDE_BASE_URL": "http://127.0.0.1:9"}
    if args.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")])
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, (code, _budget) in CASES.items():
            t0 = time.perf_counter()
            subprocess.run(command(code), env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    floor = statistics.median(times["python -c pass"])
    where = args.src or f"the ampkit of {sys.executable}"
    print(f"start-up, median of {args.runs} runs ({where}; python {sys.version.split()[0]})")
    print(f"{'':40} {'median':>8} {'min':>8} {'× floor':>8}  budget")
    for name, (_code, budget) in CASES.items():
        median = statistics.median(times[name])
        verdict = "" if budget is None else (
            f"< {budget:.2f} s {'ok' if median < budget else 'OVER'}")
        print(f"{name:40} {median:7.3f}s {min(times[name]):7.3f}s {median / floor:8.1f}  "
              f"{verdict}")
    if args.modules:
        print("\noptional packages loaded (and the number of modules in sys.modules)")
        for name, (code, _budget) in CASES.items():
            done = subprocess.run([sys.executable, "-c", SHOW, code, ",".join(OPTIONAL)],
                                  env=env, check=True, capture_output=True, text=True)
            print(f"{name:40} {done.stdout.strip()}")


if __name__ == "__main__":
    main()

"""`python -m bench.against REV`: before and after a change, measured in one run, turn by turn.

    python -m bench.against REV [--only ...] [--repeat N] [--quick] [--output PATH] [--keep]

REV (a commit, branch or tag) is checked out in a git worktree of its own with its own
environment (`make install`, so a changed dependency is measured too). Each repetition runs
`python -m bench --repeat 1` once in REV's checkout ("before") and once in this one ("after"),
the order swapping every repetition so that neither side always meets the machine first or
last. Both sides run their own code, bench included, each on a private stack of its own.

The result is this checkout's figures over all repetitions (a normal result file, targets
judged), plus `comparison`: for every figure both sides measured, `before`, `after` and
`after_over_before` (one ratio per repetition, each against the "before" of the same
repetition). It is written to --output (default results/against.json) and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import report
from bench.measure import SCHEMA_VERSION, figure, machine_facts, now_iso, ratio_figure, write_result

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.against", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", help="the revision to measure this checkout against")
    parser.add_argument("--only", default="stack,memory,pipeline,ids",
                        help="passed to `python -m bench` (default: stack,memory,pipeline,ids)")
    parser.add_argument("--repeat", type=int, default=3, help="turns of each side (default 3)")
    parser.add_argument("--quick", action="store_true", help="passed to `python -m bench`")
    parser.add_argument("--output", type=Path, default=RESULTS / "against.json")
    parser.add_argument("--keep", action="store_true", help="keep REV's worktree afterwards")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return args


def say(message: str) -> None:
    print(f"[against {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def checkout(rev: str) -> tuple[str, Path]:
    """REV's commit and a worktree of it with its environment installed."""
    try:
        sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"bench.against: {rev!r} is not a revision of this repository "
                 "(try a commit, a branch or a tag: git log --oneline)")
    folder = Path(tempfile.gettempdir()) / f"mlops-bench-before-{sha[:12]}"
    if not (folder / ".git").exists():
        say(f"checking out {rev} ({sha[:12]}) in {folder} ...")
        git("worktree", "add", "--detach", str(folder), sha)
    say(f"installing {rev}'s environment (make install) ...")
    subprocess.run(["make", "install"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    return sha, folder


def run_side(folder: Path, python: str, options: Sequence[str], output: Path) -> dict[str, Any]:
    """One `python -m bench --repeat 1` in `folder`; its result, even when a section failed."""
    subprocess.run([python, "-m", "bench", *options, "--repeat", "1", "--output", str(output)],
                   cwd=folder, stdout=subprocess.DEVNULL, check=False)
    if not output.exists():
        raise RuntimeError(f"`python -m bench` in {folder} wrote no result (see its output above)")
    return json.loads(output.read_text())


def per_turn(results: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[float]]:
    """(section, figure) -> one value per turn (the turn's median), for figures every turn has."""
    values: dict[tuple[str, str], list[float]] = {}
    for turn, result in enumerate(results):
        for section, body in result["measurements"].items():
            for label, fig in body.get("figures", {}).items():
                series = values.setdefault((section, label), [])
                if len(series) == turn:
                    series.append(fig["median"])
    return {key: series for key, series in values.items() if len(series) == len(results)}


def _units(results: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    return {(section, label): fig["unit"] for result in results
            for section, body in result["measurements"].items()
            for label, fig in body.get("figures", {}).items()}


def merged(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The turns of one side as one result's measurements: each figure over every turn."""
    units = _units(results)
    measurements: dict[str, Any] = {}
    for (section, label), series in per_turn(results).items():
        body = measurements.setdefault(section, {"figures": {}, "details": {"turns": []}})
        body["figures"][label] = figure(series, units[(section, label)])
    for result in results:
        for section, body in result["measurements"].items():
            target = measurements.setdefault(section, {"figures": {}, "details": {"turns": []}})
            target["details"]["turns"].append(body.get("details", {}))
            if body.get("error"):
                target.setdefault("errors", []).append(body["error"])
    return measurements


def comparison(before: Sequence[Mapping[str, Any]],
               after: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every figure both sides measured in every turn: before, after, after ÷ before per turn."""
    b, a = per_turn(before), per_turn(after)
    units = _units(after)
    out = {}
    for key in sorted(b.keys() & a.keys()):
        unit = units[key]
        entry = {"before": figure(b[key], unit), "after": figure(a[key], unit)}
        if all(v > 0 for v in b[key]):
            entry["after_over_before"] = ratio_figure(a[key], b[key])
        out[".".join(key)] = entry
    return out


def table(compared: Mapping[str, Any]) -> str:
    lines = [f"  {'figure':<60} {'before':>9} {'after':>9} {'after/before':>13}  [min..max]"]
    for label, entry in compared.items():
        line = (f"  {label:<60} {report._number(entry['before']['median']):>9} "
                f"{report._number(entry['after']['median']):>9}")
        ratio = entry.get("after_over_before")
        if ratio:
            line += (f" {report._number(ratio['median']):>12}x  "
                     f"[{report._number(ratio['min'])}..{report._number(ratio['max'])}]")
        lines.append(line + f"  {entry['after']['unit']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = ["--only", args.only, *(["--quick"] if args.quick else [])]
    started, began = time.monotonic(), now_iso()
    machine = machine_facts()
    sha, folder = checkout(args.rev)
    sides = {"before": (folder, str(folder / ".venv" / "bin" / "python")),
             "after": (ROOT, sys.executable)}
    turns: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-against-"))
    try:
        for turn in range(args.repeat):
            order = ("before", "after") if turn % 2 == 0 else ("after", "before")
            for side in order:
                say(f"turn {turn + 1}/{args.repeat}: {side} ({os.getloadavg()[0]:.1f} load) ...")
                where, python = sides[side]
                turns[side].append(run_side(where, python, options,
                                            scratch / f"{side}-{turn}.json"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT,
                           check=False)
    machine["load_average_at_end"] = list(os.getloadavg())
    measurements = merged(turns["after"])
    result = {
        "schema_version": SCHEMA_VERSION, "started": began, "finished": now_iso(),
        "options": {"only": args.only.split(","), "repeat": args.repeat, "quick": args.quick,
                    "against": {"rev": args.rev, "commit": sha, "head": git("rev-parse", "HEAD")}},
        "machine": machine, "setup": {}, "measurements": measurements,
        "targets": report.judge(measurements),
        "comparison": comparison(turns["before"], turns["after"]),
        "seconds": round(time.monotonic() - started, 1),
    }
    write_result(result, args.output)
    print(report.table(result))
    print(f"\n== before ({args.rev}, {sha[:12]}) and after (this checkout), turn by turn ==")
    print(table(result["comparison"]))
    print(f"\nwritten to {args.output}")
    return 1 if any(body.get("errors") for body in measurements.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench`: run the benchmarks on a private stack, print a table, write the result file.

    python -m bench [--only stack,pipeline,memory,serving,monitoring,scaling,ids,executors]
                    [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    executors,
    ids_transfer,
    memory,
    monitoring,
    pipeline,
    report,
    scaling,
    serving,
    stack_start,
)
from bench.measure import SCHEMA_VERSION, machine_facts, now_iso, write_result
from bench.private_stack import PrivateStack
from stack.airflow_api import AirflowAPI

RESULTS = Path(__file__).resolve().parent / "results"
# The order they run in: memory's idle snapshot wants a quiet stack after one DAG run, and its
# peak is taken during the pipeline benchmark's runs; the heavy ones come last.
MEASUREMENTS = ("stack", "memory", "pipeline", "serving", "monitoring", "scaling", "ids",
                "executors")
SECTION = {"stack": "stack_start", "memory": "memory", "pipeline": "pipeline", "serving": "serving",
           "monitoring": "monitoring", "scaling": "scaling", "ids": "ids_transfer",
           "executors": "executors"}
NEEDS_CHAMPION = {"memory", "pipeline", "serving", "monitoring", "executors"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated subset of {','.join(MEASUREMENTS)} (default: all)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions of each measurement (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smallest sizes and one repetition: a smoke test of the benchmark")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--keep-stack", action="store_true",
                        help="leave the private stack running and its folder in place (debugging)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(MEASUREMENTS)}")
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def guarded(result: dict[str, Any], key: str, run: Callable[[], dict[str, Any]]) -> None:
    """Run one measurement; a failure is recorded in its section and the others still run."""
    say(f"{key} ...")
    started = time.monotonic()
    try:
        section = run()
    except Exception:  # noqa: BLE001 - one broken measurement must not lose the others
        section = {"figures": {}, "error": traceback.format_exc()}
        say(f"{key} FAILED:\n{section['error']}")
    # Memory is measured in two parts (idle, then its section): its time is their sum.
    earlier = result["measurements"].get(key, {}).get("seconds", 0.0)
    section["seconds"] = round(earlier + time.monotonic() - started, 1)
    result["measurements"][key] = section
    say(f"{key} done in {section['seconds']:.0f}s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = [name for name in MEASUREMENTS if name in args.only]
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "started": now_iso(), "finished": None,
        "options": {"only": selected, "repeat": args.repeat, "quick": args.quick},
        "machine": machine_facts(), "setup": {}, "measurements": {}, "targets": [],
    }
    overrides = {"IDS_MAX_PAYLOAD_MB": ids_transfer.PAYLOAD_LIMIT_MB}
    repeat, quick = args.repeat, args.quick
    stack: PrivateStack | None = None
    started = time.monotonic()
    try:
        if "stack" in selected:
            def run_stack() -> dict[str, Any]:
                nonlocal stack
                section, stack = stack_start.measure(repeat, quick, **overrides)
                return section
            guarded(result, "stack_start", run_stack)
        if stack is None:
            say("starting a private stack ...")
            stack = PrivateStack.create(**overrides)
            result["setup"]["stack_up_s"] = round(stack.up().seconds, 1)
        say(f"private stack in {stack.folder}")
        if NEEDS_CHAMPION & set(selected):
            first = pipeline.ensure_champion(stack, AirflowAPI.from_settings(stack.settings))
            result["setup"]["first_dag_run_s"] = first

        peaks: list = []
        idle: list = []
        if "memory" in selected:
            def run_idle() -> dict[str, Any]:
                idle.extend(memory.measure_idle(stack, repeat))
                return {"figures": {}}
            guarded(result, "memory", run_idle)
        if "pipeline" in selected:
            # The peak is the DAG runs'; the plain runs are sampled too, alike, and dropped.
            during_dag = memory.sampler_factory(stack, peaks) if idle else None
            during_plain = memory.sampler_factory(stack, []) if idle else None
            guarded(result, "pipeline", lambda: pipeline.measure(
                stack, repeat, quick, during_dag=during_dag, during_plain=during_plain))
        if idle:
            guarded(result, "memory", lambda: memory.section(
                stack, idle, peaks or memory.peaks_of_own_runs(stack, repeat)))
        if "serving" in selected:
            guarded(result, "serving", lambda: serving.measure(stack, repeat, quick))
        if "monitoring" in selected:
            guarded(result, "monitoring", lambda: monitoring.measure(stack, repeat, quick))
        if "scaling" in selected:
            guarded(result, "scaling", lambda: scaling.measure(stack, repeat, quick))
        if "ids" in selected:
            guarded(result, "ids_transfer", lambda: ids_transfer.measure(stack, repeat, quick))
        if "executors" in selected:
            guarded(result, "executors", lambda: executors.measure(stack, repeat, **overrides))
    finally:
        if stack is not None and not args.keep_stack:
            say("stopping the private stack ...")
            try:
                if stack.running():
                    stack.down()
            finally:
                stack.remove()
        elif stack is not None:
            say(f"private stack left running: python -m stack --env-file {stack.env_file} down")
        result["finished"] = now_iso()
        result["seconds"] = round(time.monotonic() - started, 1)
        result["machine"]["load_average_at_end"] = list(os.getloadavg())
        result["targets"] = report.judge(result["measurements"])
        write_result(result, args.output)
        print(report.table(result))
        print(f"\nwritten to {args.output}")
    failed = [k for k, s in result["measurements"].items() if s.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

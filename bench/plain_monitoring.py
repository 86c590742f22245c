"""One monitoring check in one plain Python process: the baseline of the monitoring DAG's run.

Run as `python -m bench.plain_monitoring --since ISO` with the environment Airflow's tasks get;
prints one JSON line with the seconds of its imports and of the check. The caller times the whole
process, imports included, as the DAG's tasks pay for their own imports too.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", required=True, help="compare the inputs served after this")
    args = parser.parse_args(argv)

    started = time.monotonic()
    import mlflow

    from project_template import config
    from project_template.mlops_platform.monitoring import run_check
    from project_template.mlops_platform.served_inputs import Window

    mlflow.set_tracking_uri(config.MLFLOW_TRACKING_URI)
    imported = time.monotonic()
    window = Window.ending(datetime.now(UTC), config.MONITORING.window_hours,
                           datetime.fromisoformat(args.since))
    summary = run_check(window, f"plain__{uuid.uuid4().hex[:12]}")
    print(json.dumps({"steps": {"imports": imported - started,
                                "check": time.monotonic() - imported},
                      "summary": summary}))


if __name__ == "__main__":
    main()

"""The issue's targets judged against a result, and the result as a table on the terminal."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

MB_IN_MIB = 10**6 / 2**20
SERVING_CELLS = ("rows1.c1", "rows1.c8", "rows100.c1", "rows100.c8")

# name, goal as written in the issue, section, figures (all must pass), comparison, limit
TARGETS: tuple[tuple[str, str, str, tuple[str, ...], str, float], ...] = (
    ("stack cold start", "<= 20 s", "stack_start", ("cold.total_s",), "<=", 20.0),
    ("demo DAG trigger to success", "<= 30 s", "pipeline", ("dag.trigger_to_success_s",), "<=", 30.0),
    ("DAG vs plain-process baseline", "<= 2x", "pipeline", ("ratio.dag_over_plain",), "<=", 2.0),
    ("idle stack PSS", "<= 1.2 GiB", "memory", ("idle.total_mib",), "<=", 1.2 * 1024),
    ("IDS /proxy throughput at 1 GiB", ">= 200 MB/s", "ids_transfer",
     ("proxy.1024MiB.throughput_mb_s",), ">=", 200.0),
    ("IDS server RSS growth at 1 GiB", "< 50 MB", "ids_transfer",
     ("proxy.1024MiB.server_rss_growth_mib",), "<", 50 * MB_IN_MIB),
    ("serving throughput vs mlflow models serve", ">= 1x in every cell", "serving",
     tuple(f"ratio.{c}.rps_ours_over_mlflow" for c in SERVING_CELLS), ">=", 1.0),
    ("serving p99 vs mlflow models serve", "<= 1x in every cell", "serving",
     tuple(f"ratio.{c}.p99_ours_over_mlflow" for c in SERVING_CELLS), "<=", 1.0),
)
_COMPARE = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


def judge(measurements: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target met (True), missed (False) or not measured in this run (None), on medians."""
    judged = []
    for name, goal, section, labels, op, limit in TARGETS:
        figures = measurements.get(section, {}).get("figures", {})
        found = {label: figures[label]["median"] for label in labels if label in figures}
        if len(found) < len(labels):
            judged.append({"name": name, "goal": goal, "figures": [f"{section}.{x}" for x in labels],
                           "values": found, "met": None})
            continue
        met = all(_COMPARE[op](value, limit) for value in found.values())
        judged.append({"name": name, "goal": goal, "figures": [f"{section}.{x}" for x in labels],
                       "values": found, "met": met})
    return judged


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(result: Mapping[str, Any]) -> str:
    """Every figure (median, min..max, n) by measurement, then the targets."""
    lines = []
    machine = result["machine"]
    lines.append(f"{machine['cpu_model']}, {machine['cores_logical']} cores, {machine['memory_gib']} GiB, "
                 f"Python {machine['python']}, Airflow {machine['versions'].get('apache-airflow')}, "
                 f"MLflow {machine['versions'].get('mlflow')}; load average at start "
                 f"{machine['load_average'][0]:.1f}")
    for section_name, section in result["measurements"].items():
        lines.append(f"\n== {section_name} ==")
        if section.get("error"):
            lines.append(f"  FAILED: {section['error'].strip().splitlines()[-1]}")
        for label, fig in section.get("figures", {}).items():
            spread = f"{_number(fig['min'])}..{_number(fig['max'])}"
            lines.append(f"  {label:<52} {_number(fig['median']):>9} {fig['unit']:<10} "
                         f"[{spread}] n={fig['n']}")
    lines.append("\n== targets (on medians) ==")
    for target in result["targets"]:
        verdict = {True: "MET", False: "NOT MET", None: "not measured"}[target["met"]]
        values = ", ".join(_number(v) for v in target["values"].values()) or "-"
        lines.append(f"  {target['name']:<44} {target['goal']:<22} {values:<28} {verdict}")
    return "\n".join(lines)

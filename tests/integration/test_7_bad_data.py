"""Malformed datasets through the real DAG: each fails read_data on its first try, with no retry,
naming the problem, and leaves the champion and the registry as they were.

One sample of each problem the validation names (tests/template/test_bad_data_properties.py tries
hundreds of inputs at the unit level; here each costs a DAG run). Each is offered on the IDS edge
and read through the connector, as the template reads its data. That a fetch failure still
retries is test_3_faults' `test_read_data_retried_through_the_ids_outage`; a title the connector
does not offer fails at once too.
"""

from __future__ import annotations

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    DAG_ID,
    EXAMPLE_CSV,
    TEMPLATE,
    DagRun,
    alias_version,
    model_versions,
    offer_on_edge,
    run_dag,
)

pytestmark = [pytest.mark.integration]


def _lines(transform) -> bytes:
    lines = EXAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    return ("\n".join(transform(lines)) + "\n").encode()


def _cell(lines: list[str], row: int, column: int, value: str) -> list[str]:
    cells = lines[row].split(";")
    cells[column] = value
    return [*lines[:row], ";".join(cells), *lines[row + 1:]]


EXAMPLE = EXAMPLE_CSV.read_bytes()
# name -> (the bytes the source returns, what the failed task's log must say)
MALFORMED = {
    "latin1": (EXAMPLE.replace(b"\n59.0;", b"\n59.0\xe9;", 1), "not valid utf-8: byte 0xe9 at line 2"),
    "utf16": (EXAMPLE.decode().encode("utf-16"), "UTF-16 byte-order mark"),
    "commas": (EXAMPLE.replace(b";", b","), "wrong delimiter"),
    "renamed": (_lines(lambda lines: [lines[0].replace("bmi", "BMI"), *lines[1:]]),
                "missing required column(s): bmi"),
    "text": (_lines(lambda lines: _cell(lines, 3, 2, "thirty")), "column 'bmi' must be numeric"),
    "infinite": (_lines(lambda lines: _cell(lines, 7, 5, "inf")), "column 's2' must be finite"),
    "repeated_row": (_lines(lambda lines: [*lines, lines[9]]), "1 duplicate row(s)"),
    "appended_twice": (EXAMPLE + EXAMPLE, "the header appears again at data row(s) 443"),
    "truncated": (EXAMPLE[:len(EXAMPLE) // 2], "columns but data row(s)"),
    "header_only": (_lines(lambda lines: lines[:1]), "a header but no rows"),
}


@pytest.fixture(scope="module")
def bad_runs(api: AirflowAPI, mlflow_api, first_run: DagRun,
             live_stack: LiveStack) -> dict[str, object]:
    """Every malformed input through its own DAG run, with the registry before and after."""
    name = TEMPLATE.REGISTERED_MODEL_NAME
    before = {"champion": alias_version(mlflow_api, name),
              "versions": sorted(model_versions(mlflow_api, name))}
    runs = {}
    for label, (raw, _) in MALFORMED.items():
        title = f"{TEMPLATE.EXPERIMENT_NAME}-malformed-{label}-{first_run.run_id[-6:]}"
        offer_on_edge(live_stack.settings, title, raw)
        runs[label] = run_dag(api, {"data_source": "ids", "data_location": title})
    after = {"champion": alias_version(mlflow_api, name),
             "versions": sorted(model_versions(mlflow_api, name))}
    return {"runs": runs, "before": before, "after": after}


def test_every_malformed_input_fails_read_data_on_its_first_try(
        api: AirflowAPI, bad_runs: dict) -> None:
    retries_spent = 0
    for label, run in bad_runs["runs"].items():
        read = run.task("read_data")
        # Retries are configured (max_tries), and none was spent.
        assert (run.state, read["state"], read["try_number"]) == ("failed", "failed", 1), label
        assert read["max_tries"] >= 1, "the stack runs tasks without retries: nothing is proven"
        retries_spent += read["try_number"] - 1
        later = {ti["task_id"]: ti["state"] for ti in run.task_instances
                 if ti["task_id"] != "read_data"}
        assert "success" not in {later.get("data_processing"), later.get("model_training")}, later
        log = api.task_log(DAG_ID, run.run_id, "read_data", 1)
        expected = MALFORMED[label][1]
        assert "DataValidationError" in log and expected in log, f"{label}: {log[-3000:]}"
    assert (len(bad_runs["runs"]), retries_spent) == (len(MALFORMED), 0)


def test_malformed_inputs_leave_the_champion_and_the_registry_as_they_were(bad_runs: dict) -> None:
    assert bad_runs["before"]["champion"] is not None
    assert bad_runs["after"] == bad_runs["before"]


def test_a_title_the_connector_does_not_offer_fails_read_data_without_a_retry(
        api: AirflowAPI, first_run: DagRun) -> None:
    title = f"{TEMPLATE.EXPERIMENT_NAME}-never-offered-{first_run.run_id[-6:]}"
    run = run_dag(api, {"data_source": "ids", "data_location": title})
    read = run.task("read_data")
    assert (run.state, read["state"], read["try_number"]) == ("failed", "failed", 1)
    assert read["max_tries"] >= 1, "the stack runs tasks without retries: nothing is proven"
    log = api.task_log(DAG_ID, run.run_id, "read_data", 1)
    assert "IDSResourceNotFound" in log and title in log, log[-3000:]

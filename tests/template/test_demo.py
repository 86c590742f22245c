"""`make demo`'s logic against a fake Airflow API and fake MLflow / model server answers."""

from __future__ import annotations

from stack import demo
from stack.settings import Settings

SETTINGS = Settings(values={
    "STACK_BIND_HOST": "127.0.0.1", "AIRFLOW_PORT": "18080", "MLFLOW_PORT": "15000",
    "MODEL_SERVER_PORT": "15001", "EXPERIMENT_NAME": "diabetes-progression",
    "REGISTERED_MODEL_NAME": "diabetes-progression",
})


class FakeAPI:
    def __init__(self, final_state: str, tasks: list[dict]) -> None:
        self.final_state, self.tasks, self.calls = final_state, tasks, []

    def wait_for_dag(self, dag_id, timeout):
        self.calls.append(("wait_for_dag", dag_id))

    def unpause(self, dag_id):
        self.calls.append(("unpause", dag_id))

    def trigger(self, dag_id, conf=None):
        self.calls.append(("trigger", dag_id))
        return "manual__2026-01-01T00:00:00+00:00"

    def wait_for_run(self, dag_id, run_id, timeout, on_change=None):
        for ti in self.tasks:
            on_change({**ti, "state": "running"})
            on_change(ti)
        return {"state": self.final_state}

    def task_instances(self, dag_id, run_id):
        return self.tasks

    def task_log(self, dag_id, run_id, task_id, try_number, map_index=-1):
        return "\n".join(f"{task_id} line {i}" for i in range(100))


class FakeResponse:
    def __init__(self, payload: dict, status: int = 200) -> None:
        self.payload, self.status_code, self.text = payload, status, str(payload)

    def json(self) -> dict:
        return self.payload

    def raise_for_status(self) -> None:
        assert self.status_code < 400


def test_a_failed_run_exits_1_with_the_failed_tasks_log_tail():
    tasks = [{"task_id": "read_data", "map_index": -1, "state": "failed", "try_number": 1},
             {"task_id": "model_training", "map_index": 0, "state": "upstream_failed"}]
    lines: list[str] = []
    code = demo.run_demo(SETTINGS, FakeAPI("failed", tasks), out=lines.append)
    text = "\n".join(lines)
    assert code == 1
    assert "read_data                    failed" in text
    assert "model_training[0]            upstream_failed" in text
    assert "read_data line 99" in text and "read_data line 59" not in text
    assert "model_training line" not in text
    run_link = ("http://127.0.0.1:18080/dags/project_template/runs/"
                "manual__2026-01-01T00%3A00%3A00%2B00%3A00")
    assert run_link in text


def test_a_successful_run_prints_links_and_a_prediction(monkeypatch):
    def fake_get(url, params, timeout, auth=None):
        assert auth is None  # MLflow without its login (MLFLOW_AUTH off)
        if url.endswith("experiments/get-by-name"):
            return FakeResponse({"experiment": {"experiment_id": "7"}})
        return FakeResponse({"model_version": {"version": "3"}})

    posted = []

    def fake_post(url, json, timeout, auth=None):
        assert auth is None  # the model server without its login (MODEL_SERVER_AUTH off)
        posted.append((url, json))
        return FakeResponse({"predictions": [152.1]})

    monkeypatch.setattr(demo.requests, "get", fake_get)
    monkeypatch.setattr(demo.requests, "post", fake_post)
    api = FakeAPI("success", [{"task_id": "deploy", "map_index": -1, "state": "success"}])
    lines: list[str] = []
    assert demo.run_demo(SETTINGS, api, out=lines.append) == 0
    text = "\n".join(lines)
    assert ("unpause", "project_template") in api.calls
    assert "http://127.0.0.1:15000/#/experiments/7" in text
    assert "http://127.0.0.1:15000/#/models/diabetes-progression/versions/3" in text
    assert "[152.1]" in text
    url, body = posted[0]
    assert url == "http://127.0.0.1:15001/invocations"
    assert body["dataframe_split"]["columns"][:2] == ["age", "sex"]
    assert "disease_progression" not in body["dataframe_split"]["columns"]


def test_the_serving_endpoint_failing_fails_the_demo(monkeypatch):
    monkeypatch.setattr(demo, "mlflow_links", lambda *args: [])
    monkeypatch.setattr(demo.requests, "post",
                        lambda url, json, timeout, auth=None: FakeResponse(
                            {"error_code": "NO_CHAMPION"}, 503))
    lines: list[str] = []
    assert demo.run_demo(SETTINGS, FakeAPI("success", []), out=lines.append) == 1
    assert any("503" in line for line in lines)


def test_the_demo_runs_the_templates_dag_on_its_example_row():
    from project_template import config

    assert demo.run_demo.__defaults__[0] == config.DAG_ID
    row = demo.example_row()["dataframe_split"]
    assert row["columns"] == list(config.FEATURE_COLUMNS)

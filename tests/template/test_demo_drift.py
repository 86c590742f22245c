"""`make demo-drift`'s traffic and its failure reports, against a fake Airflow API and model
server (the whole loop runs live in tests/integration/test_7_retraining_loop.py)."""

from __future__ import annotations

import importlib

import pytest

from stack import demo_drift, drift_traffic
from tests.template.test_demo import SETTINGS, FakeAPI, FakeResponse


@pytest.fixture
def project(project_dir):
    return importlib.import_module(f"{project_dir.name}.config")


def test_shifted_traffic_moves_enough_columns_to_pass_the_threshold_and_only_those(project):
    columns = drift_traffic.columns_to_shift(project)
    share = len(columns) / len(project.FEATURE_COLUMNS)
    assert share >= project.MONITORING.drift_share_threshold
    like = drift_traffic.training_like_rows(project, 300, seed=1)
    shifted = drift_traffic.shifted_rows(project, 300, seed=1, columns=columns)
    assert list(like.columns) == list(project.FEATURE_COLUMNS)
    features = drift_traffic.example_features(project)
    for column in project.FEATURE_COLUMNS:
        if column in columns:
            moved = shifted[column].mean() - like[column].mean()
            assert moved > features[column].std(), column
            spec = next(s for s in project.SCHEMA.features if s.name == column)
            assert spec.max is None or shifted[column].max() <= spec.max
        else:
            assert shifted[column].equals(like[column]), column
    # Seeded: the same traffic every time.
    assert drift_traffic.training_like_rows(project, 300, seed=1).equals(like)


class LoopAPI(FakeAPI):
    """The fake API of test_demo, with runs of two DAGs and asset events."""

    def __init__(self, final_state, tasks, events):
        super().__init__(final_state, tasks)
        self.events = events

    def trigger(self, dag_id, conf=None):
        self.calls.append(("trigger", dag_id))
        return f"manual__{dag_id}"

    def asset_events(self, **filters):
        return self.events


@pytest.fixture
def served(monkeypatch):
    """A model server that serves the template's model and answers every request."""
    monkeypatch.setattr(demo_drift, "served_models",
                        lambda settings: {"diabetes-progression": "1"})
    monkeypatch.setattr(drift_traffic.requests, "post",
                        lambda url, json, timeout, auth=None: FakeResponse({"predictions": []}))
    monkeypatch.setattr(drift_traffic, "logged_rows", lambda *args: 10_000)


def test_a_failed_monitoring_run_exits_1_with_its_failed_tasks_log_tail(served):
    tasks = [{"task_id": "check", "map_index": -1, "state": "failed", "try_number": 2}]
    lines: list[str] = []
    api = LoopAPI("failed", tasks, events=[])
    assert demo_drift.run_demo_drift(SETTINGS, api, rows=20, out=lines.append) == 1
    text = "\n".join(lines)
    assert "[5/6] monitoring: project_template_monitoring" in text
    assert "check line 99" in text and "check line 59" not in text
    assert "20/20 requests answered" not in text and "2/2 requests answered" in text
    assert ("unpause", "project_template") in api.calls  # else asset events would queue unseen


def test_no_asset_event_after_shifted_traffic_exits_1_saying_so(served):
    lines: list[str] = []
    assert demo_drift.run_demo_drift(SETTINGS, LoopAPI("success", [], events=[]), rows=20,
                                     out=lines.append) == 1
    assert "No retraining asked for" in "\n".join(lines)


def test_the_report_link_opens_the_monitoring_runs_html_report(monkeypatch):
    listings = {None: [{"path": "reports", "is_dir": True}, {"path": "summary.json"}],
                "reports": [{"path": "reports/drift_report.html", "is_dir": False}]}

    def fake_get(url, params, auth, timeout):
        if url.endswith("runs/get"):
            return FakeResponse({"run": {"info": {"experiment_id": "4"}}})
        assert params["run_id"] == "r1"
        return FakeResponse({"files": listings[params.get("path")]})

    monkeypatch.setattr(demo_drift.requests, "get", fake_get)
    assert demo_drift.report_link(SETTINGS, "r1") == (
        "http://127.0.0.1:15000/#/experiments/4/runs/r1/artifactPath/reports/drift_report.html")


def test_traffic_sends_the_model_servers_login_when_it_asks_for_one(project):
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    expected = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    seen: list[str | None] = []

    class LoginRequired(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            status = 200 if seen[-1] == expected else 401
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), LoginRequired)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rows = drift_traffic.training_like_rows(project, 20, seed=1)
    try:
        with pytest.raises(RuntimeError, match="answered 401"):
            drift_traffic.send(url, "m", rows)
        assert drift_traffic.send(url, "m", rows, auth=("reader", "s3cret")) == 2
    finally:
        server.shutdown()
    assert seen == [None, expected, expected]

"""read_data through the IDS client against the mock TRUE Connector (edge seeded with the example)."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from conftest import EXAMPLE_CSV, REPO_ROOT

from project_template import config
from project_template.Data.read_data import DataSourceError, resolve_data_source
from project_template.mlops_platform.dataset_store import read_frame
from project_template.mlops_platform.ingest import read_data


def _mock_processes():
    # The IDS tests' process helper, loaded by path: `tests` is not a package to import from.
    path = REPO_ROOT / "tests" / "ids" / "mock_processes.py"
    spec = importlib.util.spec_from_file_location("template_tests_ids_mock_processes", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def connectors(tmp_path_factory):
    mock = _mock_processes()
    root = tmp_path_factory.mktemp("ids")
    edge = mock.make_process("edge", root / "edge", {
        "IDS_SEED_FILE": str(EXAMPLE_CSV), "IDS_SEED_TITLE": "diabetes-progression"})
    cloud = mock.make_process("cloud", root / "cloud", mock.edge_as_peer(edge))
    edge.start()
    try:
        cloud.start()
        yield edge, cloud
    finally:
        cloud.stop()
        edge.stop()


@pytest.fixture
def ids_config(connectors, monkeypatch):
    edge, cloud = connectors
    for name in [name for name in os.environ if name.startswith("IDS_")]:
        monkeypatch.delenv(name)  # the client's credentials: the connectors' published defaults
    monkeypatch.setattr(config, "IDS_EDGE_HOST", "127.0.0.1")
    monkeypatch.setattr(config, "IDS_EDGE_PORT", str(edge.message_port))
    monkeypatch.setattr(config, "IDS_CLOUD_HOST", "127.0.0.1")
    monkeypatch.setattr(config, "IDS_CLOUD_PORT", str(cloud.message_port))


def test_read_data_fetches_the_example_through_ids(ids_config, experiment, example_bytes):
    import mlflow

    data = read_data(resolve_data_source("ids", config.DATA.ids_title), experiment, "manual__ids")
    local = mlflow.artifacts.download_artifacts(artifact_uri=data["data_uri"])
    with open(local, "rb") as handle:
        stored = handle.read()
    assert stored == example_bytes
    assert len(read_frame(stored)) == 442


def test_an_unknown_title_fails_naming_it(ids_config):
    from project_template.Data.read_data import fetch_raw_data

    with pytest.raises(DataSourceError, match="no-such-dataset"):
        fetch_raw_data(resolve_data_source("ids", "no-such-dataset"))

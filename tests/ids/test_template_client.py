"""The template's IDS client (`RestIDSConsumerConnector`, `register_experiment`) end to end."""

from __future__ import annotations

import dataclasses
import hashlib

import httpx
import pandas as pd
import pytest

from .mock_processes import API_AUTH, free_port, offered


def _client(settings):
    from project_template.IDS_templates.rest_ids_consumer_connector import RestIDSConsumerConnector

    return RestIDSConsumerConnector(settings)


def test_readme_example_reads_the_seed_dataset(ids_pair, client_settings):
    data = _client(client_settings).get_external_artifact_by_resource_title(
        ids_pair.seed_title,
        "127.0.0.1", str(ids_pair.edge.message_port),
        "127.0.0.1", str(ids_pair.cloud.message_port),
    )
    assert data.tell() == 0 and "b" in getattr(data, "mode", "b")
    frame = pd.read_csv(data, delimiter=";", quotechar='"')
    pd.testing.assert_frame_equal(frame, pd.read_csv(ids_pair.seed_file, delimiter=";"))
    data.seek(0)
    assert hashlib.sha256(data.read()).digest() == hashlib.sha256(
        ids_pair.seed_file.read_bytes()).digest()
    data.close()


def test_settings_come_from_the_environment(ids_pair, monkeypatch):
    from project_template.IDS_templates.rest_ids_consumer_connector import RestIDSConsumerConnector

    monkeypatch.setenv("IDS_EDGE_HOST", "127.0.0.1")
    monkeypatch.setenv("IDS_EDGE_IDS_PORT", str(ids_pair.edge.message_port))
    monkeypatch.setenv("IDS_CLOUD_HOST", "127.0.0.1")
    monkeypatch.setenv("IDS_CLOUD_DATA_APP_PORT", str(ids_pair.cloud.message_port))
    # Ports as int work as well as the original's strings.
    data = RestIDSConsumerConnector().get_external_artifact_by_resource_title(ids_pair.seed_title)
    assert data.read() == ids_pair.seed_file.read_bytes()
    monkeypatch.setenv("IDS_CONNECTOR_PASSWORD", "not-the-password")
    from project_template.IDS_templates.ids_errors import IDSAuthenticationError

    with pytest.raises(IDSAuthenticationError, match="IDS_CONNECTOR_USER"):
        RestIDSConsumerConnector().get_external_artifact_by_resource_title(
            ids_pair.seed_title, "127.0.0.1", ids_pair.edge.message_port,
            "127.0.0.1", ids_pair.cloud.message_port)


def test_unknown_title_lists_the_offered_titles(ids_pair, client_settings):
    from project_template.IDS_templates.ids_errors import IDSResourceNotFound

    with pytest.raises(IDSResourceNotFound) as error:
        _client(client_settings).get_external_artifact_by_resource_title("no-such-dataset")
    assert ids_pair.seed_title in error.value.available
    assert repr(ids_pair.seed_title) in str(error.value)


def test_unreachable_connector_names_the_url(client_settings):
    from project_template.IDS_templates.ids_errors import IDSConnectorUnreachable

    port = free_port()
    closed = dataclasses.replace(client_settings, cloud_data_app_port=str(port), retries=1)
    with pytest.raises(IDSConnectorUnreachable) as error:
        _client(closed).get_external_artifact_by_resource_title("anything")
    assert f"https://127.0.0.1:{port}/proxy" in str(error.value)
    assert error.value.attempts == 2


def test_retries_ride_out_transient_5xx(ids_pair, client_settings):
    from project_template.IDS_templates.ids_errors import IDSRejected

    faults_url = ids_pair.cloud.api_url + "/admin/faults"
    try:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={"fail_next": 2}).raise_for_status()
        data = _client(client_settings).get_external_artifact_by_resource_title(ids_pair.seed_title)
        assert data.read() == ids_pair.seed_file.read_bytes()
        assert httpx.get(faults_url, auth=API_AUTH, verify=False).json()["fail_next"] == 0
        # More failures than retries: a typed error with the status, not None.
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={"fail_next": 3}).raise_for_status()
        with pytest.raises(IDSRejected) as error:
            _client(client_settings).get_external_artifact_by_resource_title(ids_pair.seed_title)
        assert error.value.status == 503
    finally:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={}).raise_for_status()


def test_a_rejection_is_not_retried(ids_pair, client_settings):
    from project_template.IDS_templates.ids_errors import IDSRejected

    faults_url = ids_pair.cloud.api_url + "/admin/faults"
    try:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={
            "status_by_message_type": {"ArtifactRequestMessage": 404}}).raise_for_status()
        with pytest.raises(IDSRejected) as error:
            _client(client_settings).get_external_artifact_by_resource_title(ids_pair.seed_title)
        assert error.value.step == "artifact request" and error.value.status == 404
    finally:
        httpx.put(faults_url, auth=API_AUTH, verify=False, json={}).raise_for_status()


def test_register_experiment_is_idempotent(ids_pair, client_settings, monkeypatch):
    from project_template.Deployment.register_experiment import register_experiment

    monkeypatch.setenv("EXPERIMENT_NAME", "client-e2e-exp")
    first = register_experiment(settings=client_settings)
    second = register_experiment(settings=client_settings)
    assert first["status"] == "registered" and second["status"] == "already_registered"
    assert first["resource_id"] == second["resource_id"]
    mine = [r for r in offered(ids_pair.cloud) if r["ids:title"][0]["@value"] == "client-e2e-exp"]
    assert len(mine) == 1
    assert mine[0]["ids:representation"][0]["ids:instance"][0]["@id"] == "mlflow:client-e2e-exp"
    assert "client-e2e-exp" not in [r["ids:title"][0]["@value"] for r in offered(ids_pair.edge)]
    assert _client(client_settings).is_artifact_internal_registered_by_resource_title(
        "client-e2e-exp")
    assert not _client(client_settings).is_artifact_internal_registered_by_resource_title(
        "never-registered")


def test_register_experiment_fails_loudly_when_unreachable(client_settings):
    from project_template.Deployment.register_experiment import register_experiment
    from project_template.IDS_templates.ids_errors import IDSConnectorUnreachable

    closed = dataclasses.replace(client_settings, cloud_api_port=str(free_port()), retries=0)
    with pytest.raises(IDSConnectorUnreachable):
        register_experiment("unreachable-exp", settings=closed)


def test_register_experiment_rejects_wrong_admin_password(client_settings):
    from project_template.Deployment.register_experiment import register_experiment
    from project_template.IDS_templates.ids_errors import IDSAuthenticationError

    wrong = dataclasses.replace(client_settings, api_password="wrong")
    with pytest.raises(IDSAuthenticationError, match="IDS_API_USER"):
        register_experiment("some-exp", settings=wrong)


def test_tls_verification_against_the_mock_certificate(ids_pair, client_settings):
    from project_template.IDS_templates.ids_errors import IDSTLSError

    cloud_cert = ids_pair.cloud.cert_dir / "ids-mock-cloud.crt"
    verified = dataclasses.replace(client_settings, verify=str(cloud_cert))
    assert _client(verified).is_artifact_internal_registered_by_resource_title("no-such-title") \
        is False
    system_cas = dataclasses.replace(client_settings, verify=True)
    with pytest.raises(IDSTLSError, match="IDS_VERIFY_TLS"):
        _client(system_cas).is_artifact_internal_registered_by_resource_title("anything")

"""Readiness checks that walk the path each service's clients take, shared by both runners.

A process that is alive is not a service that works: MLflow answers `/health` while refusing API
calls addressed to the host name its clients use, so each check here does what a client does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import requests

from stack.services import worker_index
from stack.settings import Settings


class NotReady(Exception):
    """The service does not (yet) do its job; the message says what failed."""


@dataclass(frozen=True)
class Probe:
    """What a check needs to know: the settings and how the runner's clients address services."""

    settings: Settings
    # The Host header Airflow's tasks send to MLflow (`mlflow:5000` in Compose).
    mlflow_host: str


def _get(url: str, **kwargs) -> requests.Response:
    try:
        return requests.get(url, timeout=kwargs.pop("timeout", 5), **kwargs)
    except requests.RequestException as error:
        raise NotReady(f"{url}: {type(error).__name__}") from error


def _connect_postgres(probe: Probe, user: str, password: str, dbname: str) -> None:
    import psycopg2

    s = probe.settings
    try:
        psycopg2.connect(host=s.client_host, port=s.int("POSTGRES_PORT"), user=user,
                         password=password, dbname=dbname, connect_timeout=3).close()
    except psycopg2.Error as error:
        raise NotReady(f"cannot log in to database {dbname!r} as {user!r}: "
                       f"{str(error).strip()}") from error


def check_postgres(probe: Probe) -> None:
    _connect_postgres(probe, "postgres", probe.settings.get("POSTGRES_SUPERUSER_PASSWORD"),
                      "postgres")


def check_postgres_init(probe: Probe) -> None:
    s = probe.settings
    for app in ("AIRFLOW", "MLFLOW", "PROMOTION_LOCK"):
        _connect_postgres(probe, s.get(f"{app}_DB_USER"), s.get(f"{app}_DB_PASSWORD"),
                          s.get(f"{app}_DB_NAME"))


def _s3_client(probe: Probe):
    import boto3
    from botocore.config import Config

    s = probe.settings
    return boto3.client(
        "s3", endpoint_url=s.s3_url, aws_access_key_id=s.get("S3_ACCESS_KEY"),
        aws_secret_access_key=s.get("S3_SECRET_KEY"), region_name="us-east-1",
        config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}),
    )


def check_s3(probe: Probe) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _s3_client(probe).list_buckets()
    except (BotoCoreError, ClientError) as error:
        raise NotReady(f"S3 at {probe.settings.s3_url}: {error}") from error


def check_s3_init(probe: Probe) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = probe.settings.get("MLFLOW_ARTIFACT_BUCKET")
    try:
        _s3_client(probe).head_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as error:
        raise NotReady(f"bucket {bucket!r} is not there: {error}") from error


def check_mlflow(probe: Probe) -> None:
    s = probe.settings
    base = s.mlflow_url
    headers = {"Host": probe.mlflow_host}
    auth = s.mlflow_auth
    search = _get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                  headers=headers, auth=auth)
    if search.status_code != 200:
        raise NotReady(f"experiments/search with Host: {probe.mlflow_host} answered "
                       f"{search.status_code} {search.text[:200]}")
    # The proxied artifact store: proves the server reaches S3 with its credentials.
    artifacts = _get(f"{base}/api/2.0/mlflow-artifacts/artifacts", headers=headers, auth=auth)
    if artifacts.status_code != 200:
        raise NotReady(f"artifact listing answered {artifacts.status_code} {artifacts.text[:200]}")


def _airflow_health(probe: Probe) -> dict:
    response = _get(f"{probe.settings.airflow_url}/api/v2/monitor/health")
    if response.status_code != 200:
        raise NotReady(f"/api/v2/monitor/health answered {response.status_code}")
    return response.json()


def check_airflow_apiserver(probe: Probe) -> None:
    s = probe.settings
    if _airflow_health(probe)["metadatabase"]["status"] != "healthy":
        raise NotReady("Airflow's metadatabase is not healthy")
    try:
        token = requests.post(f"{s.airflow_url}/auth/token", timeout=5, json={
            "username": s.get("AIRFLOW_ADMIN_USER"), "password": s.get("AIRFLOW_ADMIN_PASSWORD")})
    except requests.RequestException as error:
        raise NotReady(f"/auth/token: {type(error).__name__}") from error
    if token.status_code not in (200, 201):
        raise NotReady(f"/auth/token refused the admin login: {token.status_code} {token.text[:200]}")
    # The Task Execution API, which every task calls. The server builds it at its first request,
    # seconds of CPU that the first task after a start would otherwise wait for.
    execution = _get(f"{s.airflow_url}/execution/health", timeout=120)
    if execution.status_code != 200:
        raise NotReady(f"/execution/health answered {execution.status_code}")


def _airflow_component(component: str) -> Callable[[Probe], None]:
    def check(probe: Probe) -> None:
        status = _airflow_health(probe).get(component, {}).get("status")
        if status != "healthy":
            raise NotReady(f"Airflow reports the {component} as {status}")

    return check


def _ids(api_port_variable: str) -> Callable[[Probe], None]:
    def check(probe: Probe) -> None:
        s = probe.settings
        url = s.url(api_port_variable, scheme="https") + "/"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the connector's certificate is self-signed
            response = _get(url, auth=(s.get("IDS_API_USER"), s.get("IDS_API_PASSWORD")),
                            verify=False)
        if response.status_code != 200:
            raise NotReady(f"{url} answered {response.status_code}")

    return check


def check_redis(probe: Probe) -> None:
    import redis

    s = probe.settings
    try:
        redis.Redis.from_url(s.broker_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise NotReady(f"Redis at {s.client_host}:{s.get('REDIS_PORT')}: {error}") from error


def celery_nodes(settings: Settings, timeout: float = 2.0) -> list[str]:
    """The Celery workers that answer a ping through the broker (`name@host` each)."""
    from celery import Celery

    app = Celery(broker=settings.broker_url)
    try:
        replies = app.control.ping(timeout=timeout)
    except Exception as error:  # noqa: BLE001 - kombu raises the transport's own errors
        raise NotReady(f"no answer through the broker: {error}") from error
    finally:
        app.close()
    return sorted(node for reply in replies for node in reply)


def check_celery_worker(name: str) -> Callable[[Probe], None]:
    """A worker is ready once it has registered: it answers a ping through the broker."""
    def check(probe: Probe) -> None:
        nodes = celery_nodes(probe.settings)
        if not any(node.split("@")[0] == name for node in nodes):
            raise NotReady(f"Celery node {name}@... does not answer a ping (answering: "
                           f"{', '.join(nodes) or 'none'})")

    return check


def check_model_server(probe: Probe) -> None:
    response = _get(f"{probe.settings.model_server_url}/health")
    if response.status_code != 200:
        raise NotReady(f"/health answered {response.status_code}")


class _Checks(dict):
    """Each service's check; a numbered Celery worker (`airflow-worker-2`) is checked as its node."""

    def __missing__(self, name: str) -> Callable[[Probe], None]:
        if worker_index(name) is None:
            raise KeyError(name)
        return check_celery_worker(name)


CHECKS: dict[str, Callable[[Probe], None]] = _Checks({
    "postgres": check_postgres,
    "postgres-init": check_postgres_init,
    "s3": check_s3,
    "s3-init": check_s3_init,
    "mlflow": check_mlflow,
    "airflow-init": lambda probe: None,  # its exit status is the check; the API server's follows
    "airflow-apiserver": check_airflow_apiserver,
    "airflow-scheduler": _airflow_component("scheduler"),
    "airflow-dag-processor": _airflow_component("dag_processor"),
    "airflow-triggerer": _airflow_component("triggerer"),
    "ids-edge": _ids("IDS_EDGE_API_PORT"),
    "ids-cloud": _ids("IDS_CLOUD_API_PORT"),
    "model-server": check_model_server,
    "redis": check_redis,
    "airflow-worker": check_celery_worker("airflow-worker"),  # Compose's, on any container
})

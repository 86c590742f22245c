"""The platform's services, described once: what each is, what it waits for, which ports it owns.

Both runners start exactly these services: `docker-compose.yml` declares them as Compose services
of the same names (a test holds the two together), and `stack.native` runs them as local processes.
How each one is launched lives with its runner; how each one is proven ready lives in
`stack.readiness`, shared by both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Service:
    name: str
    summary: str
    depends_on: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()  # the `.env` variables of the ports it listens on
    one_shot: bool = False  # a job that must finish successfully before its dependants start
    backend: str = ""  # the optional part it belongs to ("postgres", "s3", "celery"): else skipped


SERVICES: tuple[Service, ...] = (
    Service("postgres", "PostgreSQL, the databases of Airflow and MLflow",
            ports=("POSTGRES_PORT",), backend="postgres"),
    Service("postgres-init", "creates the users and databases of Airflow and MLflow",
            depends_on=("postgres",), one_shot=True, backend="postgres"),
    Service("s3", "S3 object store for MLflow's artifacts", ports=("S3_PORT", "S3_CONSOLE_PORT"),
            backend="s3"),
    Service("s3-init", "creates the artifact bucket", depends_on=("s3",), one_shot=True,
            backend="s3"),
    Service("mlflow", "MLflow tracking server and model registry",
            depends_on=("postgres-init", "s3-init"), ports=("MLFLOW_PORT",)),
    Service("airflow-init", "migrates Airflow's database and writes the admin login",
            depends_on=("postgres-init",), one_shot=True),
    Service("airflow-apiserver", "Airflow UI, REST API v2 and Execution API",
            depends_on=("airflow-init",), ports=("AIRFLOW_PORT",)),
    Service("redis", "Redis, the Celery broker", ports=("REDIS_PORT",), backend="celery"),
    # The LocalExecutor runs tasks in the scheduler, which then serves their logs; the
    # CeleryExecutor runs them in the workers (`Service.worker` numbers them).
    Service("airflow-scheduler", "Airflow scheduler",
            depends_on=("airflow-init", "redis"), ports=("AIRFLOW_WORKER_LOG_PORT",)),
    Service("airflow-worker", "Airflow Celery worker", depends_on=("airflow-init", "redis"),
            backend="celery"),
    Service("airflow-dag-processor", "parses the DAG folder", depends_on=("airflow-init",)),
    Service("airflow-triggerer", "runs deferred tasks", depends_on=("airflow-init",),
            ports=("AIRFLOW_TRIGGERER_LOG_PORT",)),
    Service("ids-edge", "mock IDS TRUE Connector, provider (edge) side",
            ports=("IDS_EDGE_IDS_PORT", "IDS_EDGE_API_PORT")),
    Service("ids-cloud", "mock IDS TRUE Connector, consumer (cloud) side",
            ports=("IDS_CLOUD_DATA_APP_PORT", "IDS_CLOUD_API_PORT")),
    Service("model-server", "serves the registered model's champion (MLflow scoring protocol)",
            depends_on=("mlflow",), ports=("MODEL_SERVER_PORT",)),
)

BY_NAME = {service.name: service for service in SERVICES}
WORKER = "airflow-worker"


def worker_name(index: int) -> str:
    """The name of the native runner's `index`-th Celery worker (from 1): also its Celery node."""
    return f"{WORKER}-{index}"


def worker_index(name: str) -> int | None:
    """1 for `airflow-worker-1`; None for any other service."""
    prefix, _, number = name.rpartition("-")
    return int(number) if prefix == WORKER and number.isdigit() else None


def plan(backends: set[str], workers: int = 1) -> list[Service]:
    """The services to run when only `backends` are available, dependencies pruned to match.

    With "celery", the one `airflow-worker` of the description becomes `workers` numbered ones
    (Compose scales its one service instead).
    """
    chosen = [s for s in SERVICES if not s.backend or s.backend in backends]
    names = {s.name for s in chosen}
    planned = []
    for s in chosen:
        service = Service(s.name, s.summary, tuple(d for d in s.depends_on if d in names),
                          s.ports, s.one_shot, s.backend)
        if s.name == WORKER:
            planned += [replace(service, name=worker_name(i)) for i in range(1, workers + 1)]
        else:
            planned.append(service)
    return planned


def start_order(services: list[Service]) -> list[Service]:
    """Services sorted so that every one comes after what it depends on."""
    done: list[Service] = []
    names: set[str] = set()
    pending = list(services)
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= names]
        if not ready:
            raise ValueError(f"dependency cycle among {[s.name for s in pending]}")
        for service in ready:
            done.append(service)
            names.add(service.name)
            pending.remove(service)
    return done


def needs(service: Service, services: list[Service]) -> set[str]:
    """Every service `service` depends on, directly or through others."""
    by_name = {s.name: s for s in services}
    found: set[str] = set()
    pending = list(service.depends_on)
    while pending:
        name = pending.pop()
        if name not in found and name in by_name:
            found.add(name)
            pending.extend(by_name[name].depends_on)
    return found


def stop_waves(services: list[Service]) -> list[list[Service]]:
    """The long-running services in the order to stop them, a wave at a time.

    A wave holds the services that no running service needs any more, so they can stop together:
    the clients first, their databases and object store last.
    """
    running = [s for s in services if not s.one_shot]
    waves = []
    while running:
        needed = set().union(*(needs(s, services) for s in running))
        wave = [s for s in running if s.name not in needed]
        if not wave:
            raise ValueError(f"dependency cycle among {[s.name for s in running]}")
        waves.append(wave)
        running = [s for s in running if s not in wave]
    return waves

"""How the native runner launches each service: command line, environment and user.

The Compose file states the same commands and environment for containers; a test holds the
Airflow and MLflow settings of the two runners together.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.services import worker_index, worker_name
from stack.settings import REPO_ROOT, Settings

VENV_BIN = Path(sys.executable).parent
DAGS_FOLDER = REPO_ROOT / "project_template"
IDS_EXAMPLE_FILE = DAGS_FOLDER / "Data" / "example_data" / "diabetes.csv"


# What a service inherits from the shell that ran `make up`; everything else comes from `.env`, so
# a stray MLFLOW_REGISTRY_URI or AIRFLOW__* in someone's shell cannot reach the services.
_INHERITED = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
              "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}


def base_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of the calling environment a service may see (locale, paths, proxies, CAs)."""
    environ = dict(os.environ) if environ is None else environ
    return {k: v for k, v in environ.items() if k in _INHERITED or k.startswith("LC_")}


@dataclass(frozen=True)
class Program:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # drop to this user before exec (PostgreSQL refuses to run as root)
    stopsignal: str = "TERM"


def _bin(name: str) -> str:
    return str(VENV_BIN / name)


def database_uri(settings: Settings, backends: Backends, layout: Layout, app: str) -> str:
    """The SQLAlchemy URI of `app` ("AIRFLOW" or "MLFLOW"): PostgreSQL, or SQLite without it."""
    if backends.database == "sqlite":
        return f"sqlite:///{layout.sqlite_dir / (app.lower() + '.db')}"
    s = settings
    # psycopg2 explicitly: with SQLAlchemy 2.1 a bare postgresql:// means psycopg v3.
    return (f"postgresql+psycopg2://{s.get(app + '_DB_USER')}:{s.get(app + '_DB_PASSWORD')}"
            f"@{s.client_host}:{s.int('POSTGRES_PORT')}/{s.get(app + '_DB_NAME')}")


def s3_environment(settings: Settings) -> dict[str, str]:
    """What a client of the object store needs (the S3 API of MinIO, rclone or moto)."""
    return {
        "S3_ENDPOINT_URL": settings.s3_url,
        "MLFLOW_S3_ENDPOINT_URL": settings.s3_url,
        "AWS_ACCESS_KEY_ID": settings.get("S3_ACCESS_KEY"),
        "AWS_SECRET_ACCESS_KEY": settings.get("S3_SECRET_KEY"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_ARTIFACT_BUCKET": settings.get("MLFLOW_ARTIFACT_BUCKET"),
    }


def client_environment(settings: Settings, backends: Backends) -> dict[str, str]:
    """What the template's code (Airflow tasks, tests) needs to reach the platform's services."""
    s = settings
    env = {
        "MLFLOW_TRACKING_URI": s.mlflow_url,
        "MODEL_SERVER_URL": s.model_server_url,
        "EXPERIMENT_NAME": s.get("EXPERIMENT_NAME"),
        "REGISTERED_MODEL_NAME": s.get("REGISTERED_MODEL_NAME"),
        "TASK_RETRIES": s.get("TASK_RETRIES"),
        "TASK_RETRY_DELAY_SECONDS": s.get("TASK_RETRY_DELAY_SECONDS"),
        "IDS_EDGE_HOST": s.client_host,
        "IDS_CLOUD_HOST": s.client_host,
        **s.mlflow_login,
        **s.model_server_login,  # the `deploy` task's reload call
    }
    # The peers' logins stay between the connectors: a client of /proxy never needs them.
    env.update({k: v for k, v in s.values.items()
                if k.startswith("IDS_") and not k.startswith("IDS_PEER")})
    if backends.s3 != "local":
        env.update(s3_data_environment(s))
    if backends.database == "postgres":  # else promotion locks this machine only (a file lock)
        env.update(promotion_lock_environment(s))
    return env


def promotion_lock_environment(settings: Settings) -> dict[str, str]:
    """The login promotion takes its lock with: a role that can only connect to its own database
    (postgres/init-databases.sh), never Airflow's or MLflow's."""
    s = settings
    return {"PROMOTION_LOCK_DB_HOST": s.client_host, "PROMOTION_LOCK_DB_PORT": s.get("POSTGRES_PORT"),
            **{k: s.get(k) for k in ("PROMOTION_LOCK_DB_NAME", "PROMOTION_LOCK_DB_USER",
                                     "PROMOTION_LOCK_DB_PASSWORD")}}


def s3_data_environment(settings: Settings) -> dict[str, str]:
    """What the template's S3 data source needs: never the store's root keys.

    Tasks log artifacts through MLflow's proxy (`--serve-artifacts`), so only the MLflow server
    holds the root keys. Reading a dataset from S3 takes an identity of its own, S3_DATA_ACCESS_KEY
    and S3_DATA_SECRET_KEY (empty: none, and only public objects can be read).
    """
    return {
        "S3_ENDPOINT_URL": settings.s3_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": settings.values.get("S3_DATA_ACCESS_KEY", ""),
        "AWS_SECRET_ACCESS_KEY": settings.values.get("S3_DATA_SECRET_KEY", ""),
    }


def dag_bundles(template: str, projects: str) -> str:
    """Airflow 3 DAG bundles: the template and the folder of new projects, each parsed alone.

    A 10 s refresh (default 300 s) lets a project made by `make new-project` show up within
    seconds; a refresh only lists the folder, new files are parsed, known ones are not re-read.
    """
    return json.dumps([
        {"name": name, "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": path, "refresh_interval": 10}}
        for name, path in (("project_template", template), ("projects", projects))
    ])


def celery_environment(settings: Settings, backends: Backends, layout: Layout) -> dict[str, str]:
    """The CeleryExecutor's settings, the same keys as docker-compose.celery.yml."""
    s = settings
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": s.broker_url,
        # Task states go to Airflow's own database, as Airflow's docs recommend.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_uri(s, backends, layout, "AIRFLOW"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": s.get("AIRFLOW_CELERY_WORKER_CONCURRENCY"),
    }


def airflow_environment(settings: Settings, backends: Backends, layout: Layout) -> dict[str, str]:
    """Airflow's configuration, the same keys as `x-airflow-common` in docker-compose.yml.

    Every Airflow component passes its environment on to the tasks it runs: no secret that only
    the init step needs (the admin's password) belongs here.
    """
    s = settings
    home = layout.airflow_home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": s.get("AIRFLOW_PARALLELISM"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": dag_bundles(str(DAGS_FOLDER),
                                                                      str(s.projects_dir)),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": s.get("AIRFLOW_FERNET_KEY"),
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{s.get('AIRFLOW_ADMIN_USER')}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "auth" / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.airflow_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_uri(s, backends, layout, "AIRFLOW"),
        # airflow-init migrates the database before any component starts (both runners): each
        # component's own check loads all 126 migration scripts again, 0.3-0.5 CPU-s apiece.
        "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
        "AIRFLOW__API__HOST": s.bind_host,
        "AIRFLOW__API__PORT": s.get("AIRFLOW_PORT"),
        "AIRFLOW__API__BASE_URL": s.airflow_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": s.get("AIRFLOW_API_SECRET_KEY"),
        "AIRFLOW__API_AUTH__JWT_SECRET": s.get("AIRFLOW_JWT_SECRET"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": s.get("AIRFLOW_WORKER_LOG_PORT"),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": s.get("AIRFLOW_TRIGGERER_LOG_PORT"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": s.get("AIRFLOW_TASK_HEARTBEAT_TIMEOUT"),
        "AIRFLOW_ADMIN_USER": s.get("AIRFLOW_ADMIN_USER"),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.update(client_environment(s, backends))
    if s.celery:
        env.update(celery_environment(s, backends, layout))
    return env


def mlflow_allowed_hosts(settings: Settings) -> str:
    port = settings.get("MLFLOW_PORT")
    return ",".join(f"{host}:{port}" for host in ("127.0.0.1", "localhost", settings.client_host))


def _postgres(s: Settings, b: Backends, layout: Layout) -> Program:
    return Program(
        [str(Path(b.postgres_bin) / "postgres"), "-D", str(layout.postgres_data),
         "-c", f"listen_addresses={s.bind_host}", "-p", s.get("POSTGRES_PORT"),
         "-c", f"unix_socket_directories={layout.postgres_socket_dir}",
         "-c", "shared_buffers=64MB", "-c", "max_connections=100"],
        user=b.postgres_user, stopsignal="INT",  # INT: PostgreSQL's fast shutdown
    )


def _postgres_init(s: Settings, b: Backends, layout: Layout) -> Program:
    env = {"PGHOST": s.client_host, "PGPORT": s.get("POSTGRES_PORT"), "PGUSER": "postgres",
           "PGPASSWORD": s.get("POSTGRES_SUPERUSER_PASSWORD"),
           "PATH": f"{b.postgres_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update({k: s.get(k) for k in ("AIRFLOW_DB_USER", "AIRFLOW_DB_PASSWORD", "AIRFLOW_DB_NAME",
                                      "MLFLOW_DB_USER", "MLFLOW_DB_PASSWORD", "MLFLOW_DB_NAME",
                                      "PROMOTION_LOCK_DB_USER", "PROMOTION_LOCK_DB_PASSWORD",
                                      "PROMOTION_LOCK_DB_NAME")})
    return Program(["bash", str(REPO_ROOT / "postgres" / "init-databases.sh")], env)


def _s3(s: Settings, b: Backends, layout: Layout) -> Program:
    address = f"{s.bind_host}:{s.get('S3_PORT')}"
    if b.s3 == "minio":
        return Program([b.s3_bin, "server", str(layout.s3_data), "--address", address,
                        "--console-address", f"{s.bind_host}:{s.get('S3_CONSOLE_PORT')}"],
                       {"MINIO_ROOT_USER": s.get("S3_ACCESS_KEY"),
                        "MINIO_ROOT_PASSWORD": s.get("S3_SECRET_KEY")})
    if b.s3 == "rclone":
        # The key pair goes through the environment so that it never shows in `ps`; rclone reads
        # list flags from the environment as CSV, hence the quotes around the pair.
        return Program([b.s3_bin, "serve", "s3", "--addr", address, "--config", "",
                        str(layout.s3_data)],
                       {"RCLONE_AUTH_KEY": f'"{s.get("S3_ACCESS_KEY")},{s.get("S3_SECRET_KEY")}"'})
    return Program([_bin("moto_server"), "-H", s.bind_host, "-p", s.get("S3_PORT")])


def _s3_init(s: Settings, b: Backends, layout: Layout) -> Program:
    return Program([sys.executable, str(REPO_ROOT / "s3" / "create_bucket.py")],
                   s3_environment(s))


def _mlflow(s: Settings, b: Backends, layout: Layout) -> Program:
    if b.s3 == "local":
        destination = str(layout.local_artifacts)
        env: dict[str, str] = {}
    else:
        destination = f"s3://{s.get('MLFLOW_ARTIFACT_BUCKET')}/"
        env = s3_environment(s)
    # The job runner costs over 1 GB and the template does not use it.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    # `--backend-store-uri` from the environment: on the command line its password shows in `ps`.
    env["MLFLOW_BACKEND_STORE_URI"] = database_uri(s, b, layout, "MLFLOW")
    argv = [sys.executable, str(REPO_ROOT / "mlflow" / "serve.py"),
            "--host", s.bind_host, "--port", s.get("MLFLOW_PORT"),
            "--workers", "1",
            "--serve-artifacts", "--artifacts-destination", destination,
            "--allowed-hosts", mlflow_allowed_hosts(s)]
    if s.get("MLFLOW_AUTH") == "basic":
        # mlflow/serve.py runs MLflow's basic-auth app, its users in the state folder. The admin
        # login through MLflow's own variables (never in `ps`), created at the first start.
        env.update({"MLFLOW_AUTH": "basic", "MLFLOW_AUTH_STORE": str(layout.mlflow_auth_store),
                    "MLFLOW_AUTH_ADMIN_USERNAME": s.get("MLFLOW_AUTH_USER"),
                    "MLFLOW_AUTH_ADMIN_PASSWORD": s.get("MLFLOW_AUTH_PASSWORD"),
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": s.get("MLFLOW_AUTH_SECRET_KEY")})
    return Program(argv, env)


def _redis(s: Settings, b: Backends, layout: Layout) -> Program:
    # Its password is in the config file the runner writes (mode 0600), never on the command line.
    return Program([b.redis_bin, str(layout.redis_conf)])


def redis_config(settings: Settings, layout: Layout) -> str:
    """redis.conf: loopback (or STACK_BIND_HOST), a password, and every message kept on disk.

    The append-only file keeps queued task messages over a restart of the broker.
    """
    return (f"bind {settings.bind_host}\nport {settings.get('REDIS_PORT')}\n"
            f"requirepass {settings.get('REDIS_PASSWORD')}\nprotected-mode yes\n"
            f"dir {layout.redis_data}\nappendonly yes\nappendfsync everysec\n"
            f"daemonize no\nlogfile \"\"\n")


# A task instance reports its worker's name as its host name (Airflow's `hostname_callable`), so
# that the tasks of two workers on one machine can be told apart.
HOSTNAME_CALLABLE = "stack.worker_hostname.hostname"


def celery_worker(settings: Settings, backends: Backends, layout: Layout, name: str,
                  serve_logs: bool) -> Program:
    """`airflow celery worker` as Celery node `name@host`, its tasks reporting host name `name`.

    Workers on one machine share the log folder, so only a worker on a machine of its own serves
    its logs (on AIRFLOW_WORKER_LOG_PORT, as the LocalExecutor's scheduler does).
    """
    env = airflow_environment(settings, backends, layout)
    env.update({"AIRFLOW_WORKER_NAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
                "PYTHONPATH": str(REPO_ROOT)})
    argv = [_bin("airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h"]
    return Program(argv if serve_logs else [*argv, "--skip-serve-logs"], env)


# The native runner forks the four Airflow components from one process that imported Airflow
# once (airflow/forkserver.py): less CPU at start, and the modules' pages shared. supervisord runs
# a small client per component (airflow/forked.py), which the component's signals and log go
# through. Compose runs each component in a container of its own instead.
FORKSERVER = "airflow-forkserver"
FORKED = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def forkserver_socket(layout: Layout) -> Path:
    return layout.run / "airflow-forkserver.sock"


def _airflow_forkserver(s: Settings, b: Backends, layout: Layout) -> Program:
    env = airflow_environment(s, b, layout)
    env["AIRFLOW_FORKSERVER_SOCKET"] = str(forkserver_socket(layout))
    return Program([sys.executable, str(REPO_ROOT / "airflow" / "forkserver.py")], env)


def _forked(*command: str):
    """`airflow <command>`, forked from the fork server (which holds Airflow's environment)."""
    def build(s: Settings, b: Backends, layout: Layout) -> Program:
        return Program([sys.executable, "-S", str(REPO_ROOT / "airflow" / "forked.py"), *command],
                       {"AIRFLOW_FORKSERVER_SOCKET": str(forkserver_socket(layout))})

    return build


def _airflow_init(s: Settings, b: Backends, layout: Layout) -> Program:
    # The one step that writes the admin's login (airflow/init.sh); no component keeps it.
    env = {**airflow_environment(s, b, layout),
           "AIRFLOW_ADMIN_PASSWORD": s.get("AIRFLOW_ADMIN_PASSWORD"),
           "AIRFLOW_FORKSERVER_SOCKET": str(forkserver_socket(layout))}
    return Program(["bash", str(REPO_ROOT / "airflow" / "init.sh")], env)


def _ids(role: str):
    def build(s: Settings, b: Backends, layout: Layout) -> Program:
        env = {k: v for k, v in s.values.items() if k.startswith("IDS_")}
        if role == "edge":
            env.pop("IDS_PEERS", None)  # the edge forwards nothing: it only takes its peer's login
        else:
            env["IDS_EDGE_HOST"] = s.client_host  # where its peer `edge` is (IDS_PEERS)
        env.update({
            "IDS_BIND_HOST": s.bind_host,
            "IDS_DATA_DIR": str(layout.ids_dir / role / "data"),
            "IDS_CERT_DIR": str(layout.ids_dir / role / "certs"),
            "PYTHONPATH": str(REPO_ROOT / "ids-mock"),
        })
        if role == "edge":
            env.update({"IDS_SEED_FILE": str(IDS_EXAMPLE_FILE),
                        "IDS_SEED_TITLE": s.get("EXPERIMENT_NAME")})
        return Program([sys.executable, "-m", "ids_mock", "serve", "--role", role], env)

    return build


def _model_server(s: Settings, b: Backends, layout: Layout) -> Program:
    env = {
        "MLFLOW_TRACKING_URI": s.mlflow_url,
        "REGISTERED_MODEL_NAME": s.get("REGISTERED_MODEL_NAME"),
        "MODEL_SERVER_PORT": s.get("MODEL_SERVER_PORT"),
        "MODEL_SERVER_BIND_HOST": s.bind_host,
        "INFERENCE_LOG": s.get("INFERENCE_LOG"),
        "PYTHONPATH": str(REPO_ROOT / "model-server"),
        **s.mlflow_login,
        **s.model_server_login,
    }
    return Program([sys.executable, "-m", "model_server"], env)


PROGRAMS = {
    "postgres": _postgres,
    "postgres-init": _postgres_init,
    "s3": _s3,
    "s3-init": _s3_init,
    "mlflow": _mlflow,
    "airflow-init": _airflow_init,
    "airflow-apiserver": _forked("api-server"),
    # Its LocalExecutor's task processes inherit the libraries airflow/preimport.py lists, which
    # the forked scheduler imports first (airflow/forkserver.py).
    "airflow-scheduler": _forked("scheduler"),
    "airflow-dag-processor": _forked("dag-processor"),
    "airflow-triggerer": _forked("triggerer"),
    "ids-edge": _ids("edge"),
    "ids-cloud": _ids("cloud"),
    "model-server": _model_server,
    "redis": _redis,
}


def program(name: str, settings: Settings, backends: Backends, layout: Layout) -> Program:
    """The program supervisord runs for service `name` (or for the fork server)."""
    if name == FORKSERVER:
        return _airflow_forkserver(settings, backends, layout)
    index = worker_index(name)
    if index is not None:
        return celery_worker(settings, backends, layout, worker_name(index), serve_logs=False)
    return PROGRAMS[name](settings, backends, layout)


def service_program(name: str, settings: Settings, backends: Backends, layout: Layout) -> Program:
    """What runs as service `name`: a forked Airflow component is `airflow <command>` in the fork
    server's environment (the program supervisord runs for it only asks the fork server)."""
    own = program(name, settings, backends, layout)
    if name not in FORKED:
        return own
    server = program(FORKSERVER, settings, backends, layout)
    env = {k: v for k, v in server.env.items() if k != "AIRFLOW_FORKSERVER_SOCKET"}
    return Program([_bin("airflow"), *own.argv[3:]], env, stopsignal=own.stopsignal)

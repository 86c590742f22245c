"""The one description of the services: start and stop order, pruning, both runners cover it."""

from __future__ import annotations

import pytest

from stack.native.programs import PROGRAMS
from stack.readiness import CHECKS
from stack.services import (
    SERVICES,
    WORKER,
    Service,
    needs,
    plan,
    start_order,
    stop_waves,
    worker_index,
    worker_name,
)


def test_every_service_has_a_readiness_check_and_a_native_program() -> None:
    names = {s.name for s in SERVICES}
    # The Celery worker runs natively as numbered programs (stack.native.programs.program).
    assert names == set(CHECKS) == set(PROGRAMS) | {WORKER}
    assert CHECKS[worker_name(3)] is not None


def test_celery_brings_redis_and_numbered_workers() -> None:
    local = {s.name for s in plan({"postgres", "s3"}, workers=3)}
    assert not {"redis", WORKER} & local and not any(worker_index(n) for n in local)
    celery = {s.name: s for s in plan({"postgres", "s3", "celery"}, workers=3)}
    assert WORKER not in celery
    assert [n for n in celery if worker_index(n)] == ["airflow-worker-1", "airflow-worker-2",
                                                      "airflow-worker-3"]
    assert celery["airflow-worker-2"].depends_on == ("airflow-init", "redis")
    assert celery["airflow-scheduler"].depends_on == ("airflow-init", "redis")
    assert worker_index("airflow-worker-12") == 12
    assert worker_index("airflow-worker") is None and worker_index("airflow-scheduler") is None


def test_start_order_puts_dependencies_first() -> None:
    order = [s.name for s in start_order(list(SERVICES))]
    for service in SERVICES:
        for dep in service.depends_on:
            assert order.index(dep) < order.index(service.name), (dep, service.name)


def test_start_order_rejects_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        start_order([Service("a", "", depends_on=("b",)), Service("b", "", depends_on=("a",))])


def test_stop_waves_stop_each_service_after_everything_that_needs_it() -> None:
    waves = stop_waves(list(SERVICES))
    wave_of = {s.name: number for number, wave in enumerate(waves) for s in wave}
    assert set(wave_of) == {s.name for s in SERVICES if not s.one_shot}  # one-shots have ended
    for service in SERVICES:
        if service.name in wave_of:
            for needed in needs(service, list(SERVICES)) & set(wave_of):
                assert wave_of[service.name] < wave_of[needed], (service.name, needed)
    # Clients together first; the model server before MLflow; the data stores last.
    assert [sorted(s.name for s in wave) for wave in waves][1:] == [["mlflow", "redis"],
                                                                    ["postgres", "s3"]]


def test_needs_follows_dependencies_through_one_shots() -> None:
    scheduler = next(s for s in SERVICES if s.name == "airflow-scheduler")
    assert needs(scheduler, list(SERVICES)) == {"airflow-init", "postgres-init", "postgres", "redis"}
    local = {s.name: s for s in plan({"postgres"})}
    assert needs(local["airflow-scheduler"], list(local.values())) == {
        "airflow-init", "postgres-init", "postgres"}


def test_without_postgres_and_s3_their_services_and_dependencies_go() -> None:
    services = {s.name: s for s in plan(set())}
    assert not {"postgres", "postgres-init", "s3", "s3-init"} & set(services)
    assert services["mlflow"].depends_on == ()
    assert services["airflow-init"].depends_on == ()
    assert services["airflow-apiserver"].depends_on == ("airflow-init",)


def test_every_port_variable_belongs_to_exactly_one_service() -> None:
    owners: dict[str, str] = {}
    for service in SERVICES:
        for variable in service.ports:
            assert variable not in owners, (variable, owners.get(variable), service.name)
            owners[variable] = service.name

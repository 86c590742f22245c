"""Another Linux machine: PostgreSQL off Debian's path, no C.UTF-8, stale pid files, no root.

Each machine is faked where this one differs (programs on PATH, locales, ownership, root); what
runs is real: the search for PostgreSQL, initdb, the pid check, `make`'s browser step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stack import system_packages
from stack.native import backends, runner
from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.native.runner import NativeRunner
from stack.native.supervisor import Supervisor
from stack.settings import ensure_env_file, load_settings
from tests.integration import browser


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def no_debian_postgres(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A machine without /usr/lib/postgresql/*/bin; returns an empty folder for PATH."""
    monkeypatch.setattr(backends, "DEBIAN_BIN_GLOB", str(tmp_path / "no-debian" / "*" / "bin"),
                        raising=False)
    path = tmp_path / "path"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


def test_postgres_is_found_through_pg_config(no_debian_postgres: Path, tmp_path: Path) -> None:
    server = tmp_path / "opt" / "pgsql-16" / "bin"  # as Fedora's, Homebrew's or a source build
    executable(server / "postgres")
    executable(server / "initdb")
    executable(no_debian_postgres / "pg_config", f"#!/bin/sh\necho {server}\n")
    assert backends._postgres_bin_dir() == str(server)


def test_postgres_is_found_on_path(no_debian_postgres: Path, tmp_path: Path) -> None:
    server = tmp_path / "usr" / "bin"
    executable(server / "postgres")
    executable(server / "initdb")
    (no_debian_postgres / "postgres").symlink_to(server / "postgres")
    assert backends._postgres_bin_dir() == str(server)


def test_a_postgres_without_initdb_beside_it_is_not_taken(no_debian_postgres: Path) -> None:
    executable(no_debian_postgres / "postgres")
    assert backends._postgres_bin_dir() is None


def test_installing_postgres_says_what_it_changes_in_etc_first(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "etc" / "postgresql-common" / "createcluster.conf"
    monkeypatch.setattr(backends, "CREATECLUSTER_CONF", conf)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    said_before: list[str] = []

    def apt_install(packages: list[str]) -> bool:
        said_before.append(capsys.readouterr().out)
        return True

    monkeypatch.setattr(backends, "apt_install", apt_install)
    assert backends.install_postgres()
    assert conf.read_text() == "create_main_cluster = false\n"
    (said,) = said_before
    assert "installing Debian's package `postgresql` with apt-get" in said
    assert f"writing {conf} (create_main_cluster = false)" in said
    # A file the administrator wrote is left as it is, and they are told what that means.
    conf.write_text("create_main_cluster = true\n")
    assert backends.install_postgres()
    assert conf.read_text() == "create_main_cluster = true\n"
    assert "left as it is" in said_before[-1]


def test_adding_the_postgres_user_is_announced_first(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)

    def no_such_user(name: str):
        raise KeyError(name)

    commands: list[tuple[list[str], str]] = []
    monkeypatch.setattr(backends.pwd, "getpwnam", no_such_user)
    monkeypatch.setattr(backends.subprocess, "run", lambda argv, **kwargs: commands.append(
        (argv, capsys.readouterr().out)))
    assert backends._postgres_user() == "postgres"
    ((argv, said),) = commands
    assert argv[0] == "useradd"
    assert "adding the system user `postgres`" in said and " ".join(argv) in said


@pytest.mark.parametrize(("locales", "expected"), [({"c", "c.utf8", "posix"}, "C.UTF-8"),
                                                   ({"c", "posix"}, "C")])
def test_initdb_locale_falls_back_to_c_without_c_utf8(monkeypatch: pytest.MonkeyPatch,
                                                      locales: set[str], expected: str) -> None:
    monkeypatch.setattr(runner, "available_locales", lambda: locales, raising=False)
    assert runner.initdb_locale() == expected


@contextmanager
def initdb(environ: dict[str, str] | None = None) -> Iterator[Layout]:
    """`_init_postgres` of a fresh native stack (its `.env` and state folder made here, deleted
    after), with `environ` over the `.env`; the state's layout."""
    bin_dir = backends._postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed here: nothing to run initdb with")
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(subprocess.check_output(["mktemp", "-d", "/tmp/initdb-XXXXXX"], text=True).strip())
    try:
        folder.chmod(0o755)  # the postgres user must reach its data folder
        env = folder / ".env"
        ensure_env_file(env)
        settings = load_settings(env, environ={"STACK_STATE_DIR": str(folder / "state"),
                                               **(environ or {})})
        NativeRunner(settings)._init_postgres(Backends("postgres", "local", bin_dir, user))
        yield Layout(settings.state_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_initdb_runs_on_a_machine_without_c_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "available_locales", lambda: {"c", "posix"}, raising=False)
    with initdb() as layout:
        conf = (layout.postgres_data / "postgresql.conf").read_text()
    assert "lc_messages = 'C'" in conf


def test_beyond_loopback_postgres_lets_other_machines_in_only_with_a_password() -> None:
    with initdb({"STACK_BIND_HOST": "0.0.0.0"}) as layout:
        hba = (layout.postgres_data / "pg_hba.conf").read_text().splitlines()
    rules = [line.split() for line in hba if line.strip() and not line.startswith("#")]
    network = [rule for rule in rules if rule[0] == "host"]
    assert ["host", "all", "all", "all", "scram-sha-256"] in network
    assert {rule[-1] for rule in network} == {"scram-sha-256"}, network  # no trust, no md5


@pytest.mark.parametrize(("host", "s3", "refused"), [
    ("0.0.0.0", "moto", True), ("10.0.0.5", "moto", True), ("127.0.0.1", "moto", False),
    ("0.0.0.0", "rclone", False), ("0.0.0.0", "minio", False)])
def test_beyond_loopback_an_s3_that_takes_any_key_is_refused(tmp_path: Path, host: str, s3: str,
                                                              refused: bool) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env)
    settings = load_settings(env, environ={"STACK_BIND_HOST": host})
    chosen = Backends("postgres", s3)
    if refused:
        with pytest.raises(runner.StartError, match="moto's, which accepts any keys"):
            runner.check_s3_login(settings, chosen)
    else:
        runner.check_s3_login(settings, chosen)


def test_a_stale_pid_file_of_another_users_process_is_not_ours(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.run.mkdir()
    layout.supervisor_pidfile.write_text("4242\n")

    def kill(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")  # pid 4242 is another user's now

    monkeypatch.setattr("stack.native.supervisor.os.kill", kill)
    supervisor = Supervisor(layout)
    assert supervisor.pid is None
    assert not supervisor.running()


def test_make_test_goes_on_when_the_browser_cannot_be_installed(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(system_packages, "apt_install", lambda packages: False)
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: None)
    wanted = ["chromium=chromium", "chromedriver=chromium-driver"]
    assert system_packages.main(["--optional", *wanted]) == 0
    said = capsys.readouterr().err
    assert "apt-get install chromium chromium-driver" in said and "skipped" in said
    assert system_packages.main(wanted) == 1  # a package something cannot do without
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert "system_packages --optional chromium=chromium" in makefile


@pytest.mark.parametrize("root", [False, True])
def test_browser_tests_skip_saying_how_to_enable_them_where_make_cannot_install(
        monkeypatch: pytest.MonkeyPatch, root: bool) -> None:
    monkeypatch.setattr(browser, "_missing", lambda: "/usr/bin/chromium is missing")
    monkeypatch.setattr(browser, "can_install_packages", lambda: root, raising=False)
    expected = pytest.fail.Exception if root else pytest.skip.Exception
    with pytest.raises(expected) as outcome, browser.chromium():
        pass
    assert "/usr/bin/chromium is missing" in str(outcome.value)
    if not root:
        assert "run `make browser` as root" in str(outcome.value)

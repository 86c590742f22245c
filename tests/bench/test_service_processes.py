"""bench.measure.service_processes: which service a process counts for."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.measure import service_processes, service_tree

JOIN = "import os, sys, time; os.setpgid(0, int(sys.argv[1])); print(flush=True); time.sleep(60)"


def test_a_process_that_joined_a_services_group_counts_for_that_service() -> None:
    """As a forked Airflow component joins the group of the client supervisord runs for it."""
    leader = subprocess.Popen(["sleep", "60"], process_group=0)  # a program, as supervisord starts it
    joined = subprocess.Popen([sys.executable, "-c", JOIN, str(leader.pid)], stdout=subprocess.PIPE)
    try:
        joined.stdout.readline()  # it has joined
        assert os.getpgid(joined.pid) == leader.pid
        # `joined` is our child, not the leader's, and yet the leader's service owns it.
        found = service_processes({"component": leader.pid, "forker": os.getpid()})
        assert {p.pid for p in found["component"]} == {leader.pid, joined.pid}
        assert joined.pid not in {p.pid for p in found["forker"]}
        assert os.getpid() in {p.pid for p in found["forker"]}
        assert {p.pid for p in service_tree(leader.pid)} == {leader.pid, joined.pid}
    finally:
        for process in (leader, joined):
            process.kill()
            process.wait()


def test_a_child_with_a_group_of_its_own_counts_for_its_parents_service() -> None:
    """As a task process, which Airflow's supervisor puts in a group of its own."""
    child = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        deadline = time.monotonic() + 5
        while os.getpgid(child.pid) != child.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.pid in {p.pid for p in service_tree(os.getpid())}
    finally:
        child.kill()
        child.wait()

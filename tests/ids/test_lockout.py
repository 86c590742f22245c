"""Lockout of a user from a client address after repeated failed logins, as the real connector has it."""

from __future__ import annotations

import time

import httpx
import pytest

from .mock_processes import API_AUTH, CONNECTOR_AUTH, make_process

LOCK_SECONDS = 3.0


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory):
    cloud = make_process("cloud", tmp_path_factory.mktemp("lockout"), {
        "IDS_LOCKOUT_ATTEMPTS": "3", "IDS_LOCKOUT_MINUTES": str(LOCK_SECONDS / 60)})
    cloud.start()
    yield cloud
    cloud.stop()


def test_missing_credentials_do_not_count(strict_cloud):
    for _ in range(5):
        assert httpx.get(strict_cloud.api_url + "/", verify=False).status_code == 401
    assert httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False).status_code == 200


def test_user_locked_at_an_address_after_failures_then_released(strict_cloud):
    for _ in range(3):
        assert httpx.get(strict_cloud.api_url + "/", auth=("admin", "guess"),
                         verify=False).status_code == 401
    locked = httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False)
    assert locked.status_code == 401 and "locked" in locked.text
    assert int(locked.headers["retry-after"]) >= 1
    # The lock is per user and address: the data app's user from the same address still logs in
    # (and gets the 400 of an empty request).
    proxied = httpx.post(strict_cloud.message_url, auth=CONNECTOR_AUTH, verify=False, json={})
    assert proxied.status_code == 400, proxied.text
    # Asking while locked does not count as a failure: poll until the lock has expired.
    locked_at = time.monotonic()
    while httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False).status_code != 200:
        assert time.monotonic() - locked_at < LOCK_SECONDS + 10, "the lock was never released"
        time.sleep(0.2)
    assert time.monotonic() - locked_at >= LOCK_SECONDS - 1, "released before its time"


def test_success_resets_the_count(strict_cloud):
    for _ in range(2):
        httpx.get(strict_cloud.api_url + "/", auth=("admin", "guess"), verify=False)
    assert httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False).status_code == 200
    for _ in range(2):
        httpx.get(strict_cloud.api_url + "/", auth=("admin", "guess"), verify=False)
    assert httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False).status_code == 200


def test_failures_of_users_it_does_not_have_never_lock(strict_cloud):
    # Only this connector's own accounts are locked: a stranger's user name (e.g. a peer login
    # forwarded to the wrong connector) fails without counting against anyone.
    for user in ("nobody", "peer-cloud"):
        for _ in range(5):
            assert httpx.get(strict_cloud.api_url + "/", auth=(user, "guess"),
                             verify=False).status_code == 401
    assert httpx.get(strict_cloud.api_url + "/", auth=API_AUTH, verify=False).status_code == 200

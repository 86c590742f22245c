"""A headless Chromium from Debian, driven by Selenium through Debian's chromedriver.

Nothing here downloads a browser or a driver: both come from apt (`chromium`, `chromium-driver`),
and Selenium is told their paths, so its driver manager never runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1600,1000")
PAGE_TIMEOUT = 60  # seconds for a page (a single-page app on a busy two-core machine) to render


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the Python package `selenium` is missing: add it to the dev dependency group"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: `apt-get install -y {package}`"
    return None


def can_install_packages() -> bool:
    """Whether `make test` installs the browser itself (its `browser` step: root with apt-get)."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


@contextmanager
def chromium() -> Iterator[object]:
    """A fresh headless browser with its own profile.

    Missing where `make test` would have installed it, the test fails; elsewhere (not root) it
    is skipped, saying how to enable it.
    """
    missing = _missing()
    if missing and can_install_packages():
        pytest.fail(f"browser tests need Debian's Chromium and Selenium: {missing}")
    if missing:
        pytest.skip(f"browser tests need Debian's Chromium and Selenium: {missing}. Only root "
                    f"can install them: run `make browser` as root, then `make test` again")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition: Callable[[object], object], what: str,
             timeout: float = PAGE_TIMEOUT):
    """The condition's first truthy value; on timeout, fail saying what did not appear."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        raise AssertionError(f"{what} did not appear within {timeout:.0f}s on {driver.current_url}"
                             ) from None


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def airflow_login(driver, settings) -> None:
    """Log in to the Airflow UI with the stack's admin login."""
    from selenium.webdriver.common.by import By

    driver.get(settings.airflow_url)
    wait_for(driver, lambda d: d.find_elements(By.NAME, "username"), "the login form")
    driver.find_element(By.NAME, "username").send_keys(settings.get("AIRFLOW_ADMIN_USER"))
    driver.find_element(By.NAME, "password").send_keys(settings.get("AIRFLOW_ADMIN_PASSWORD"))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: "/auth/login" not in d.current_url, "the page after login")


def screenshot(driver, name: str) -> None:
    """Save the page as test-artifacts/<name>.png (CI keeps the folder)."""
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

"""The UIs in a real browser: Airflow shows the run succeeded, MLflow its runs and the champion.

Screenshots go to test-artifacts/, which CI keeps.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.browser import airflow_login, chromium, page_text, screenshot, wait_for
from tests.integration.platform_apis import CHAMPION, DAG_ID, TEMPLATE, DagRun, alias_version, candidate_runs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for both UIs (each start costs seconds)."""
    with chromium() as driver:
        yield driver


def test_airflow_ui_shows_the_dags_last_run_succeeded(api: AirflowAPI, first_run: DagRun,
                                                      live_stack: LiveStack, browser) -> None:
    settings = live_stack.settings
    assert api.dag_runs(DAG_ID)[0]["dag_run_id"] == first_run.run_id, "not the DAG's last run"
    driver = browser
    from selenium.webdriver.common.by import By  # after chromium(): it says when it is missing

    airflow_login(driver, settings)
    driver.get(f"{settings.airflow_url}/dags/{DAG_ID}")
    # The DAG page's "Latest Run" links to the run itself (grid cells link with a "/").
    latest = wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, f"a[href$='/dags/{DAG_ID}/runs/{first_run.run_id}']"),
        "the link to the latest run")
    screenshot(driver, "airflow-dag")
    latest[0].click()
    header = re.compile(rf"{re.escape(first_run.run_id)}\s+Success\b")
    wait_for(driver, lambda d: header.search(page_text(d)), "the run marked Success")
    screenshot(driver, "airflow-last-run")


def test_mlflow_ui_shows_the_runs_and_the_champion_alias(mlflow_api, first_run: DagRun,
                                                         live_stack: LiveStack, browser) -> None:
    settings = live_stack.settings
    experiment = mlflow_api.get_experiment_by_name(TEMPLATE.EXPERIMENT_NAME)
    candidates = [run.info.run_name
                  for run in candidate_runs(mlflow_api, settings, first_run.run_id)]
    name = TEMPLATE.REGISTERED_MODEL_NAME
    champion = alias_version(mlflow_api, name)
    driver = browser
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{settings.mlflow_url}/#/experiments/{experiment.experiment_id}/runs")
    search = wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, "input[placeholder*='metrics.']"), "the runs search box")[0]
    search.send_keys(f"tags.`airflow.dag_run_id` = '{first_run.run_id}'", Keys.ENTER)
    # Candidates are nested under the DAG run's pipeline run: expand it.
    expand = wait_for(driver, lambda d: d.find_elements(
        By.CSS_SELECTOR, "button[data-component-id*='runnamecellrenderer']"),
        "the pipeline run's expander")
    expand[0].click()
    wait_for(driver, lambda d: all(c in page_text(d) for c in candidates),
             f"the candidate runs {candidates}")
    screenshot(driver, "mlflow-runs")

    driver.get(f"{settings.mlflow_url}/#/models/{quote(name)}")
    # A version row lists its tags, then its aliases as "@ alias".
    row = re.compile(rf"Version {champion}\n(?:(?!Version \d).)*@ {CHAMPION}\b", re.DOTALL)
    wait_for(driver, lambda d: row.search(page_text(d)),
             f"version {champion} with the {CHAMPION} alias")
    screenshot(driver, "mlflow-model")

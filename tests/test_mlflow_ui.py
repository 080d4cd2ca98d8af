"""The MLflow UI as a user sees it: `mlflow server` over the session's store, opened in headless Chromium.

Checks the experiment opens in the training view (runs table, not the GenAI pages), the sweep's parent run with
its trials nested under it, a trial's params, and the preference-accuracy chart. Screenshots of each page are
saved under the test's temporary folder (see the test's log for the path). Needs Debian's `chromium` and
`chromium-driver` (.ci/run installs them); the server is stopped by its process id.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = shutil.which("chromium")
WAIT_S = 90  # the first page load compiles MLflow's bundle in a cold browser on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(compare_store, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # GenAI scoring jobs: not needed to browse runs
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", compare_store.tracking_uri]
    command += ["--artifacts-destination", (compare_store.folder / "mlartifacts").as_uri()]
    log = open(tmp_path / "mlflow_server.log", "w")  # noqa: SIM115 (closed after the server stops)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "mlflow_server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "mlflow server did not answer in 180 s"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own process group: the server and any worker it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None or not CHROMEDRIVER.exists():
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_text(driver, *texts: str, timeout: float = WAIT_S) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def seen(d):
        body = d.find_element("tag name", "body").text
        return body if all(t in body for t in texts) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(seen, f"page never showed {texts}")


def _shot(driver, folder: Path, name: str) -> None:
    folder.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(folder / f"{name}.png")), name


@pytest.mark.slow
def test_mlflow_ui_shows_the_sweep_nested_with_named_trials_params_and_accuracy_chart(
    compare_store, mlflow_server, browser, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from arabic_pref.compare.runs import training_view_link
    from arabic_pref.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

    shots = tmp_path / "screenshots"
    client = MlflowClient(tracking_uri=compare_store.tracking_uri)
    experiment = client.get_experiment_by_name("arabic-pref")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_name == "sweep-smoke")
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials.sort(key=lambda r: r.info.run_name)
    single = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags and "arabic_pref.sweep" not in r.data.tags)
    assert [r.info.run_name[:3] for r in trials] == ["t00", "t01", "t02"]

    # The experiment in the training view: the runs table with the single run and the sweep's parent; the
    # trials are folded under their parent, not listed beside it.
    browser.get(training_view_link(experiment.experiment_id, mlflow_server))
    body = _wait_for_text(browser, "Model training", parent.info.run_name, single.info.run_name, "matching runs")
    _shot(browser, shots, "1-experiment-runs")
    assert "Evaluation runs" not in body and "Model registry" in body  # not the GenAI pages
    assert not any(t.info.run_name in body for t in trials)
    expander = f'div[row-id="{parent.info.run_id}"] [col-id="attributes.`Run Name`"] button'
    WebDriverWait(browser, WAIT_S).until(ec.element_to_be_clickable((By.CSS_SELECTOR, expander))).click()
    body = _wait_for_text(browser, *(t.info.run_name for t in trials))
    _shot(browser, shots, "2-trials-nested")
    rows = browser.find_elements(By.CSS_SELECTOR, "div.ag-center-cols-container div[role='row'], div[role='row']")
    names = [r.text for r in rows if any(t.info.run_name in r.text for t in trials)]
    assert names, "the trials' rows are not in the grid"

    # A trial's page: its name, its parent, and its params under the config reference's names.
    trial = trials[0]
    run_page = f"{mlflow_server}/#/experiments/{experiment.experiment_id}/runs/{trial.info.run_id}"
    link = f"{run_page}?workflowType=machine_learning"
    browser.get(link)
    _wait_for_text(browser, trial.info.run_name, "Parent run", parent.info.run_name)
    params = {k: trial.data.params[k] for k in ("beta", "learning_rate", "loss_type")}
    search = WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "input[placeholder='Search parameters']"))
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", search)
    for key, value in params.items():
        search.send_keys(Keys.CONTROL, "a")  # replaces the previous filter (clear() bypasses React's state)
        search.send_keys(key)
        _wait_for_text(browser, key, value)
        if key == "beta":
            _shot(browser, shots, "3-trial-params")

    # The preference-accuracy chart on the trial's metrics page.
    browser.get(link.replace("?workflowType", "/model-metrics?workflowType"))
    charts = WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "input[placeholder='Search metric charts']"))
    )
    charts.send_keys("preference_accuracy")
    _wait_for_text(browser, "preference_accuracy", trial.info.run_name)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.js-plotly-plot, canvas, svg.main-svg')].length > 0"
        ),
        "no chart was drawn",
    )
    _shot(browser, shots, "4-preference-accuracy-chart")
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-experiment-runs.png",
        "2-trials-nested.png",
        "3-trial-params.png",
        "4-preference-accuracy-chart.png",
    ]
    print(f"screenshots in {shots}")

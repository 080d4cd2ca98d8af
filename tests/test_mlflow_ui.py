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

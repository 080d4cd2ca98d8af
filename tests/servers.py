"""Real servers for the multi-machine tests: one PostgreSQL for the session, MLflow tracking servers on demand.

PostgreSQL refuses to run as root and pytest's temporary folders are private to root, so the cluster lives in
a folder of its own under /tmp owned by the `postgres` user (Debian's package creates it), and the server runs as
that user. Everything listens on 127.0.0.1 on a free port and is stopped by process id.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "arabic_pref"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise RuntimeError(f"server not listening on {port} after {timeout} s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen, group: bool = False, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig) if group else process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL) if group else process.kill()
            process.wait()


@dataclass
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "db") -> str:
        """A new empty database; its SQLAlchemy URL (psycopg 3, as SQLAlchemy 2.1 maps postgresql://)."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs Debian's postgresql)")
    pytest.importorskip("psycopg", reason="the postgres extra: pip install -e '.[postgres]'")
    root = Path(tempfile.mkdtemp(prefix="arabic-pref-pg-"))
    run_as: dict = {}
    if os.geteuid() == 0:  # postgres refuses root: run as the unprivileged user Debian's package creates
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    data, log = root / "data", root / "server.log"
    subprocess.run(
        [bindir / "initdb", "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        cwd=root,
        **run_as,
    )
    port = free_port()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [bindir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", root, "-c", "fsync=off"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=root,
            **run_as,
        )
    try:
        _wait_for_port(port, process, 60, log)
        yield PostgresServer(port)
    finally:
        _stop(process, sig=signal.SIGINT)  # PostgreSQL's fast shutdown (SIGTERM waits for clients to leave)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` with served artifacts on 127.0.0.1; yields its http:// tracking URI."""
    port = free_port()
    log = artifacts.parent / f"mlflow-server-{port}.log"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri]
    command += ["--artifacts-destination", artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_for_port(port, process, 180, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process, group=True)  # its process group: the server and its workers, by the server's pid

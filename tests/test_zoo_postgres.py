"""
Hyperparameter search across processes on a real database: two ``-optimize`` workers of the zoo launcher share one
Optuna study in a PostgreSQL server that the test starts on loopback (its own cluster, in a temporary directory).
Skipped without PostgreSQL's server programs or the ``postgres`` extra's driver, except in CI (``CI=true``), where
that is a failure.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter

import pytest

pytest.importorskip("rl_zoo3")

STUDY = "reinforce-cartpole"


def postgres_bin_dir() -> str | None:
    """Where PostgreSQL's server programs are: ``initdb`` on the PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        return os.path.dirname(os.path.realpath(initdb))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[-3]))
    return os.path.dirname(found[-1]) if found else None


def missing_prerequisite(bin_dir: str | None) -> str | None:
    if bin_dir is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver is not installed: pip install 'sb3-reinforce[postgres]'"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url():
    """
    A new database in a PostgreSQL server of its own on 127.0.0.1 (a free port; its socket in the cluster's directory),
    as an SQLAlchemy URL. PostgreSQL refuses to run as root: as root, the server programs run as the ``postgres`` user.
    """
    bin_dir = postgres_bin_dir()
    missing = missing_prerequisite(bin_dir)
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI must run this test)")
        pytest.skip(missing)
    import psycopg

    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    cluster = tempfile.mkdtemp(prefix="sb3_reinforce_postgres_")  # not in pytest's tmp_path, which only root may enter
    if as_postgres:
        shutil.chown(cluster, "postgres", "postgres")
    data, port = os.path.join(cluster, "data"), free_port()

    def run(program: str, *args: str) -> None:
        command = [*as_postgres, os.path.join(bin_dir, program), *args]
        result = subprocess.run(command, cwd=cluster, capture_output=True, text=True, timeout=120)
        log = os.path.join(cluster, "server.log")
        assert result.returncode == 0, result.stdout + result.stderr + (open(log).read() if os.path.exists(log) else "")

    run("initdb", "-D", data, "-U", "postgres", "--auth", "trust", "--no-sync", "-E", "UTF8", "--locale", "C")
    server_options = f"-c listen_addresses=127.0.0.1 -p {port} -k {cluster} -c fsync=off"
    run("pg_ctl", "start", "-D", data, "-w", "-l", os.path.join(cluster, "server.log"), "-o", server_options)
    try:
        # (autocommit: CREATE DATABASE cannot run in a transaction)
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute("CREATE DATABASE optuna")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna"
    finally:
        run("pg_ctl", "stop", "-D", data, "-m", "fast")
        shutil.rmtree(cluster, ignore_errors=True)


def test_optimize_two_workers_share_a_postgresql_study(tmp_path, postgres_url):
    args = ["train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "1000", "-optimize", "--n-trials", "2"]
    args += ["--sampler", "random", "--pruner", "none", "--n-evaluations", "1", "--eval-episodes", "2"]
    args += ["--storage", postgres_url, "--study-name", STUDY, "-f", str(tmp_path / "logs"), "--num-threads", "1"]
    command = [sys.executable, "-m", "sb3_reinforce.zoo", *args]
    # Two workers at once, as on two machines: they share the study through the database
    workers = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    errors = [worker.communicate(timeout=300)[1].decode()[-3000:] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors
    import optuna

    trials = optuna.load_study(study_name=STUDY, storage=postgres_url).trials
    assert sorted(trial.number for trial in trials) == [0, 1, 2, 3]  # one numbering, no trial counted twice
    assert all(trial.state.name == "COMPLETE" for trial in trials)
    assert {"baseline", "n_steps", "learning_rate"} <= set(trials[0].params)
    # each worker ran its 2 trials
    pids = Counter(int(trial.user_attrs["worker"].rsplit(":", 1)[1]) for trial in trials)
    assert pids == {worker.pid: 2 for worker in workers}

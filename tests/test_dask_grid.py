"""
The benchmark grid on a Dask cluster: a scheduler and two workers on 127.0.0.1 (processes of the test, started with
the ``dask`` program as benchmarks/README.md says, without PYTHONPATH), and benchmarks/zoo_benchmark.py run as the
README says (``--scheduler tcp://HOST:PORT``) on 2 configs x 2 seeds of 2,000 env steps. The script runs from a copy of
benchmarks/ in a temporary tree whose zoo_configs/reinforce.yml has one tiny CartPole-v1 entry, so that its CSV file,
curves and report are written there, not in the checkout. Skipped without ``distributed`` or ``rliable`` (the
``benchmarks`` extra), except in CI (``CI=true``), where that is a failure.
"""

import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("rl_zoo3")

ROOT = Path(__file__).resolve().parent.parent
DASK = os.path.join(os.path.dirname(sys.executable), "dask")
GRID = {(config, seed) for config in ("CartPole-v1/reinforce", "CartPole-v1/a2c") for seed in (0, 1)}
# No PYTHONPATH: the workers get benchmarks/common.py from the client (and the project from the environment)
ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
TIMEOUT = 300  # seconds for the grid, which takes 20 to 40 on a loaded 2-core machine


def missing_prerequisite() -> str | None:
    try:
        import distributed  # noqa: F401
        import rliable  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed: pip install 'sb3-reinforce[benchmarks]'"
    return None if os.path.exists(DASK) else f"no dask program next to {sys.executable}"


def start(command: list[str], log: Path) -> subprocess.Popen:
    """``command`` in a process group of its own (so that its children die with it), its output in ``log``."""
    with open(log, "w") as file:
        return subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT, env=ENVIRONMENT, start_new_session=True)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and its process group (a worker's nanny, its worker process and the job's launcher)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def wait_for(condition: Callable[[], Any], what: str, timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout} s\n{tails(logs)}")


def tails(logs: Path) -> str:
    # (the benchmark's last: the end of a long message is what shows)
    ordered = sorted(logs.glob("*.log"), key=lambda log: (log.name == "benchmark.log", log.name))
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-3000:]}" for log in ordered)


class Cluster:
    """A Dask scheduler and workers ``worker-a``, ``worker-b`` on 127.0.0.1, and a client of the test's own."""

    def __init__(self, directory: Path):
        self.logs = directory
        self.processes: dict[str, subprocess.Popen] = {}
        self.client: Any = None

    def start(self) -> None:
        from distributed import Client

        directory = self.logs
        scheduler_file = directory / "scheduler.json"
        command = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        # (--idle-timeout, --death-timeout: should the test itself be killed, its cluster goes away on its own)
        command += ["--scheduler-file", str(scheduler_file), "--idle-timeout", "600"]
        self.processes["scheduler"] = start(command, directory / "scheduler.log")
        wait_for(lambda: scheduler_file.exists() and scheduler_file.stat().st_size, "scheduler file", 60, directory)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for name in ("worker-a", "worker-b"):
            command = [DASK, "worker", self.address, "--nthreads", "1", "--name", name, "--no-dashboard"]
            command += ["--local-directory", str(directory / name), "--death-timeout", "60"]
            self.processes[name] = start(command, directory / f"{name}.log")
        self.client = Client(self.address, timeout=60)
        self.client.wait_for_workers(2, timeout=120)
        self.client.get_task_stream()  # installs the scheduler's task-stream plugin: the jobs' records from now on
        self.names = {address: info["name"] for address, info in self.client.scheduler_info()["workers"].items()}

    def ran(self) -> dict[str, list[str]]:
        """The keys of the tasks that finished, per worker name."""
        done: dict[str, list[str]] = {}
        for record in self.client.get_task_stream():
            if record["status"] == "OK":
                done.setdefault(self.names.get(record["worker"], record["worker"]), []).append(record["key"])
        return done

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        for process in self.processes.values():
            kill(process)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    missing = missing_prerequisite()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI must run this test)")
        pytest.skip(missing)
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = Cluster(logs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of benchmarks/*.py beside examples/ and a zoo_configs/reinforce.yml of one 2,000-step CartPole-v1 entry."""
    tree = tmp_path / "checkout"
    (tree / "benchmarks").mkdir(parents=True)
    for script in glob.glob(str(ROOT / "benchmarks" / "*.py")):
        shutil.copy(script, tree / "benchmarks")
    (tree / "examples").symlink_to(ROOT / "examples")
    (tree / "zoo_configs").mkdir()
    entry = dict(policy="MlpPolicy", n_envs=4, n_steps=32, learning_rate=3e-3, n_timesteps=2000)
    (tree / "zoo_configs" / "reinforce.yml").write_text(yaml.safe_dump({"CartPole-v1": entry}))
    (tree / "docs").mkdir()
    (tree / "benchmarks" / "results").mkdir()
    shutil.copy(ROOT / "benchmarks" / "results" / "random_scores.json", tree / "benchmarks" / "results")
    return tree


def benchmark_command(tree: Path, scheduler: str) -> list[str]:
    """The README's command: ``python benchmarks/zoo_benchmark.py --scheduler tcp://HOST:8786 ...``, on the tiny grid."""
    script = str(tree / "benchmarks" / "zoo_benchmark.py")
    command = [sys.executable, script, "--scheduler", scheduler, "--envs", "CartPole-v1", "--algos", "reinforce", "a2c"]
    return [*command, "--seeds", "0", "1", "--output", str(tree / "docs" / "benchmark.md")]


def csv_keys(tree: Path) -> Counter:
    with open(tree / "benchmarks" / "results" / "zoo_benchmark.csv") as file:
        return Counter((row["config"], int(row["seed"])) for row in csv.DictReader(file))


def check_record(tree: Path, logs: Path) -> None:
    """Every (config, seed) of the grid once in the CSV file, its curves beside it, the report written."""
    assert csv_keys(tree) == Counter(GRID), tails(logs)
    for config, seed in GRID:
        assert (tree / "benchmarks" / "results" / "zoo_benchmark" / f"{config.replace('/', '_')}_{seed}.npz").exists()
    assert "## CartPole-v1" in (tree / "docs" / "benchmark.md").read_text()


def test_grid_on_two_workers(cluster: Cluster, tree: Path) -> None:
    with open(cluster.logs / "benchmark.log", "w") as log:
        result = subprocess.run(
            benchmark_command(tree, cluster.address), stdout=log, stderr=subprocess.STDOUT, env=ENVIRONMENT, timeout=TIMEOUT
        )
    assert result.returncode == 0, tails(cluster.logs)
    check_record(tree, cluster.logs)
    ran = cluster.ran()
    assert sorted(ran) == ["worker-a", "worker-b"], ran
    assert sum(len(keys) for keys in ran.values()) == len(GRID), ran


def test_grid_survives_a_killed_worker(cluster: Cluster, tree: Path) -> None:
    import psutil

    benchmark = start(benchmark_command(tree, cluster.address), cluster.logs / "benchmark.log")
    try:

        def busy() -> tuple[str, list[str], list[psutil.Process]] | None:
            """A worker that the scheduler reports processing a job whose zoo launcher is running, its jobs, the launcher."""
            for address, keys in cluster.client.processing().items():
                name = cluster.names[address]
                children = psutil.Process(cluster.processes[name].pid).children(recursive=True)
                launchers = [child for child in children if "sb3_reinforce.zoo" in " ".join(_cmdline(child))]
                if keys and launchers:
                    return name, list(keys), launchers
            return None

        victim, keys, launchers = wait_for(busy, "busy worker", TIMEOUT, cluster.logs)
        kill(cluster.processes[victim])
        wait_for(lambda: not any(_alive(launcher) for launcher in launchers), "end of its launcher", 30, cluster.logs)
        benchmark.wait(timeout=TIMEOUT)
    finally:
        kill(benchmark)
    assert benchmark.returncode == 0, tails(cluster.logs)
    check_record(tree, cluster.logs)
    ran = cluster.ran()
    survivor = ({"worker-a", "worker-b"} - {victim}).pop()
    # The victim's unfinished jobs (at least the one it was running) finished on the other worker, each once
    unfinished = set(keys) - set(ran.get(victim, []))
    assert unfinished and unfinished <= set(ran[survivor]), (victim, keys, ran)


def _cmdline(process: Any) -> list[str]:
    import psutil

    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(process: Any) -> bool:
    """Whether ``process`` runs (a zombie does not: an orphan waits there for a PID 1 that may never reap it)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

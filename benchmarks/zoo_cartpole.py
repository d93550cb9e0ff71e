"""
Check the CartPole-v1 entry of zoo_configs/reinforce.yml: train it on 5 seeds for its full ``n_timesteps``,
evaluating the deterministic policy on 10 episodes every 5,000 steps, with the "seed recipe" (one update per
episode, one 128-unit hidden layer, Adam 3e-4, standardized reward-to-go) measured the same way beside it.

    python benchmarks/zoo_cartpole.py --workers 2

Writes benchmarks/results/zoo_cartpole.csv (finished runs are skipped when re-run), the configuration of each run to
benchmarks/results/zoo_cartpole.configs.json (``config_record``) and benchmarks/results/zoo_cartpole.md (the table,
with the command, machine and date).
"""

import argparse
import os
import platform
import sys
import time
from typing import Any


sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/
from common import SEED_RECIPE, load_rows, run_resumable, steps_table, train_and_evaluate

from examples.records import record_queued, resolved_hyperparams

HERE = os.path.dirname(__file__)
CONFIG = os.path.join(HERE, "..", "zoo_configs", "reinforce.yml")
RESULTS = os.path.join(HERE, "results", "zoo_cartpole.csv")
FIELDS = ["config", "seed", "steps", "final_eval", "best_eval", "seconds"]
THRESHOLD = 475.0


def run(name: str, hyperparams: dict[str, Any], seed: int, budget: int) -> dict[str, Any]:
    result = train_and_evaluate("CartPole-v1", hyperparams, seed, budget, 5_000, THRESHOLD, stop_at_threshold=False)
    return dict(config=name, seed=seed, **{key: "" if value is None else value for key, value in result.items()})


def configs() -> dict[str, dict[str, Any]]:
    """The two configs: the CartPole-v1 entry as written (benchmarks/common.build converts its values) and the seed recipe."""
    import yaml

    with open(CONFIG) as file:
        return {"zoo_configs/reinforce.yml": yaml.safe_load(file)["CartPole-v1"], "seed recipe": SEED_RECIPE}


def config_record(name: str) -> dict[str, Any] | None:
    """The configuration of a run of config ``name`` as its record keeps it (examples/records.py); None if gone."""
    from sb3_reinforce import REINFORCE

    if name not in configs():
        return None
    budget = int(configs()["zoo_configs/reinforce.yml"]["n_timesteps"])
    hyperparams = resolved_hyperparams(REINFORCE, configs()[name])
    return dict(env="CartPole-v1", hyperparams=hyperparams, budget=budget, eval_freq=5_000, threshold=THRESHOLD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler (tcp://HOST:8786): run the jobs on its workers, not --workers")
    args = parser.parse_args()

    zoo = configs()["zoo_configs/reinforce.yml"]
    budget = int(zoo["n_timesteps"])
    jobs = {(name, seed): (run, (name, config, seed, budget)) for name, config in configs().items() for seed in args.seeds}
    record_queued(RESULTS, {job: config_record(job[0]) for job in jobs}, "the run")
    run_resumable(RESULTS, FIELDS, jobs, args.workers, args.scheduler)
    rows = [row for row in load_rows(RESULTS) if int(row["seed"]) in args.seeds]
    report = "\n".join(
        [
            f"CartPole-v1, {budget:,} env steps per run, deterministic evaluation on 10 episodes every 5,000 steps.",
            f"Zoo entry: `{ {k: v for k, v in zoo.items()} }`",
            "",
            steps_table(rows, THRESHOLD),
            "",
            f"Command: `python benchmarks/zoo_cartpole.py --workers {args.workers}`; machine: {platform.machine()}, "
            f"{os.cpu_count()} cores, {platform.python_version()}; date: {time.strftime('%Y-%m-%d')}.",
        ]
    )
    with open(os.path.join(HERE, "results", "zoo_cartpole.md"), "w") as file:
        file.write(report + "\n")
    print(report)


if __name__ == "__main__":
    main()

"""
MaskableREINFORCE beside sb3-contrib's MaskablePPO on InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60), 4 envs,
100k env steps, 5 seeds: the mean return of 10 masked evaluation episodes every 5k steps (random masked policy: 5 of
100), the final evaluation, and the env steps until an evaluation first reaches 90.

    python benchmarks/maskable.py --workers 2

Writes benchmarks/results/maskable.csv (finished runs are skipped when re-run), the configuration of each run to
benchmarks/results/maskable.configs.json (``config_record``), and prints the markdown table.
"""

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/
from common import load_rows, run_resumable, steps_table, train_and_evaluate

from examples.records import record_queued, resolved_hyperparams

RESULTS = os.path.join(os.path.dirname(__file__), "results", "maskable.csv")
FIELDS = ["config", "seed", "steps", "final_eval", "seconds"]
THRESHOLD = 90.0
BUDGET = 100_000
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "MaskablePPO (defaults)": ("ppo_mask", {}),
    "MaskableREINFORCE (defaults)": ("reinforce_mask", {}),
    "MaskableREINFORCE (gamma=0, lr=3e-3, n_steps=32)": ("reinforce_mask", dict(gamma=0.0, learning_rate=3e-3, n_steps=32)),
}


def make_env() -> Any:
    from sb3_contrib.common.envs import InvalidActionEnvDiscrete

    return InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60)


def config_record(name: str) -> dict[str, Any] | None:
    """The configuration of a run of config ``name`` as its record keeps it (examples/records.py); None if gone."""
    from sb3_contrib import MaskablePPO

    from sb3_reinforce import MaskableREINFORCE

    if name not in CONFIGS:
        return None
    algo, hyperparams = CONFIGS[name]
    algorithm = {"ppo_mask": MaskablePPO, "reinforce_mask": MaskableREINFORCE}[algo]
    return dict(
        env="InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60)",
        algo=algo,
        hyperparams=resolved_hyperparams(algorithm, {"n_envs": 4, **hyperparams}),
        budget=BUDGET,
        eval_freq=5_000,
        threshold=THRESHOLD,
    )


def run(name: str, seed: int) -> dict[str, Any]:
    algo, hyperparams = CONFIGS[name]
    result = train_and_evaluate(make_env, {"n_envs": 4, **hyperparams}, seed, BUDGET, 5_000, THRESHOLD, False, algo=algo)
    result.pop("best_eval")
    return dict(config=name, seed=seed, **{key: "" if value is None else value for key, value in result.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler (tcp://HOST:8786): run the jobs on its workers, not --workers")
    args = parser.parse_args()
    jobs = {(name, seed): (run, (name, seed)) for name in CONFIGS for seed in args.seeds}
    record_queued(RESULTS, {job: config_record(job[0]) for job in jobs}, "the run")
    run_resumable(RESULTS, FIELDS, jobs, args.workers, args.scheduler)
    print(steps_table([row for row in load_rows(RESULTS) if int(row["seed"]) in args.seeds], THRESHOLD))


if __name__ == "__main__":
    main()

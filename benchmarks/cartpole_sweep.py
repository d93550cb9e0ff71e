"""
Sample-efficiency sweep on CartPole-v1: env steps until the deterministic policy's mean evaluation return
(10 episodes) reaches 475, over seeds, per configuration. Used to choose REINFORCE's defaults, the rollout
mode (carry vs discard) and the zoo config.

    python benchmarks/cartpole_sweep.py --group defaults --seeds 0 1 2 --workers 2

Results are appended to benchmarks/results/cartpole_sweep.csv (finished runs are skipped when re-run), the
configuration of each run to benchmarks/results/cartpole_sweep.configs.json (``config_record``), and the table for
the chosen group is printed in markdown.
"""

import argparse
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/
from common import SEED_RECIPE, load_rows, run_resumable, train_and_evaluate

from examples.records import record_queued, resolved_hyperparams

RESULTS = os.path.join(os.path.dirname(__file__), "results", "cartpole_sweep.csv")
FIELDS = ["config", "seed", "reached", "steps", "best_eval", "seconds"]
THRESHOLD = 475.0

# Every config is explicit: the defaults of REINFORCE changed as a result of this sweep.
BASE = dict(
    n_envs=1,
    n_steps=128,
    learning_rate=1e-3,
    gamma=0.99,
    baseline="value",
    normalize_advantage=True,
    rollout_mode="discard",
    max_grad_norm=None,
)


def cfg(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


CLIP = dict(max_grad_norm=0.5)  # the first rounds clipped gradients at 0.5, as A2C does

GROUPS: dict[str, dict[str, dict[str, Any]]] = {
    # First round, n_envs=1 as REINFORCE("MlpPolicy", "CartPole-v1") builds it, evaluated every 10k steps, 3 seeds
    "defaults": {
        "seed_recipe": SEED_RECIPE,
        "lr1e-3_n256_value": cfg(n_steps=256, **CLIP),
        "lr3e-3_n256_value": cfg(n_steps=256, learning_rate=3e-3, **CLIP),
        "lr3e-3_n512_value": cfg(n_steps=512, learning_rate=3e-3, **CLIP),
        "lr3e-3_n256_mean": cfg(n_steps=256, learning_rate=3e-3, baseline="mean", **CLIP),
        "lr3e-3_n256_none_nonorm": cfg(n_steps=256, learning_rate=3e-3, baseline="none", normalize_advantage=False, **CLIP),
        "lr1e-2_n256_value": cfg(n_steps=256, learning_rate=1e-2, **CLIP),
        "lr3e-3_n128_value": cfg(learning_rate=3e-3, **CLIP),
    },
    # Second round: n_envs=1, 5 seeds, evaluated every 5k steps
    "refine": {
        "r_lr3e-3_n64_value": cfg(n_steps=64, learning_rate=3e-3, **CLIP),
        "r_lr3e-3_n128_value": cfg(learning_rate=3e-3, **CLIP),
        "r_lr3e-3_n256_value": cfg(n_steps=256, learning_rate=3e-3, **CLIP),
        "r_lr3e-3_n128_mean": cfg(learning_rate=3e-3, baseline="mean", **CLIP),
        "r_lr1e-3_n64_value": cfg(n_steps=64, **CLIP),
        "r_seed_recipe": SEED_RECIPE,
        "r_lr3e-3_n128_value_noclip": cfg(learning_rate=3e-3),
        "r_lr3e-3_n64_mean": cfg(n_steps=64, learning_rate=3e-3, baseline="mean", **CLIP),
        "r_lr3e-3_n128_mean_noclip": cfg(learning_rate=3e-3, baseline="mean"),
        "r_lr1e-3_n128_value_noclip": cfg(),
        "r_lr3e-3_n128_value_clip5": cfg(learning_rate=3e-3, max_grad_norm=5.0),
    },
    # Several envs: what to do with the steps of envs that finish first (5 seeds, every 5k steps)
    "modes": {
        "carry_n32": cfg(n_envs=8, n_steps=32, learning_rate=3e-3, rollout_mode="carry", **CLIP),
        "discard_n32": cfg(n_envs=8, n_steps=32, learning_rate=3e-3, **CLIP),
        "bootstrap_n32": cfg(n_envs=8, n_steps=32, learning_rate=3e-3, rollout_mode="bootstrap", **CLIP),
        "carry_n64": cfg(n_envs=8, n_steps=64, learning_rate=3e-3, rollout_mode="carry", **CLIP),
        "discard_n64": cfg(n_envs=8, n_steps=64, learning_rate=3e-3, **CLIP),
        "carry_n1": cfg(n_envs=8, n_steps=1, learning_rate=3e-3, rollout_mode="carry", **CLIP),
        "discard_n1": cfg(n_envs=8, n_steps=1, learning_rate=3e-3, **CLIP),
        "discard_n1_mean": cfg(n_envs=8, n_steps=1, learning_rate=3e-3, baseline="mean", **CLIP),
        "discard_n1_4envs_mean": cfg(n_envs=4, n_steps=1, learning_rate=3e-3, baseline="mean", **CLIP),
        "discard_n32_4envs_mean": cfg(n_envs=4, n_steps=32, learning_rate=3e-3, baseline="mean", **CLIP),
        "carry_n32_4envs_mean": cfg(n_envs=4, n_steps=32, learning_rate=3e-3, rollout_mode="carry", baseline="mean", **CLIP),
    },
    # Third round, with the new defaults (value baseline, no clipping, lr 1e-3): modes again, and the zoo config
    "final": {
        "f_8envs_n1_discard": cfg(n_envs=8, n_steps=1),
        "f_8envs_n1_carry": cfg(n_envs=8, n_steps=1, rollout_mode="carry"),
        "f_8envs_n32_discard": cfg(n_envs=8, n_steps=32),
        "f_8envs_n32_carry": cfg(n_envs=8, n_steps=32, rollout_mode="carry"),
        "f_4envs_n32_discard": cfg(n_envs=4, n_steps=32),
        "f_4envs_n32_carry": cfg(n_envs=4, n_steps=32, rollout_mode="carry"),
        "f_4envs_n32_discard_lr3e-3": cfg(n_envs=4, n_steps=32, learning_rate=3e-3),
        "f_8envs_n32_bootstrap": cfg(n_envs=8, n_steps=32, rollout_mode="bootstrap"),
    },
}


def config_record(name: str, budget: int, eval_freq: int) -> dict[str, Any] | None:
    """
    The configuration of a run of config ``name`` (of any group) as its record keeps it (examples/records.py), with
    the command line's ``budget`` and ``eval_freq``; None if no group defines ``name`` any more.
    """
    from sb3_reinforce import REINFORCE

    config = next((group[name] for group in GROUPS.values() if name in group), None)
    if config is None:
        return None
    hyperparams = resolved_hyperparams(REINFORCE, config)
    return dict(env="CartPole-v1", hyperparams=hyperparams, budget=budget, eval_freq=eval_freq, threshold=THRESHOLD)


def run(name: str, config: dict[str, Any], seed: int, budget: int, eval_freq: int) -> dict[str, Any]:
    result = train_and_evaluate("CartPole-v1", config, seed, budget, eval_freq, THRESHOLD, stop_at_threshold=True)
    return dict(
        config=name,
        seed=seed,
        reached=int(result["steps"] is not None),
        steps=result["steps"] or "",
        best_eval=result["best_eval"],
        seconds=result["seconds"],
    )


def table(names: list[str], rows: list[dict[str, str]], budget: int) -> str:
    lines = [
        f"| config | seeds | reached 475 | median steps to 475 (unreached = {budget:,}) | steps per seed | best eval (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        runs = [row for row in rows if row["config"] == name]
        if not runs:
            continue
        steps = [int(row["steps"]) if row["reached"] == "1" else budget for row in runs]
        per_seed = " ".join(f"{s // 1000}k" if row["reached"] == "1" else "-" for s, row in zip(steps, runs, strict=True))
        best = np.mean([float(row["best_eval"]) for row in runs])
        reached = sum(row["reached"] == "1" for row in runs)
        lines.append(f"| {name} | {len(runs)} | {reached}/{len(runs)} | {int(np.median(steps)):,} | {per_seed} | {best:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", choices=list(GROUPS), default="defaults")
    parser.add_argument("--configs", nargs="*", help="only these configs of the group")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler (tcp://HOST:8786): run the jobs on its workers, not --workers")
    args = parser.parse_args()

    configs = {name: config for name, config in GROUPS[args.group].items() if not args.configs or name in args.configs}
    jobs = {
        (name, seed): (run, (name, configs[name], seed, args.budget, args.eval_freq))
        for name in configs
        for seed in args.seeds
    }
    record_queued(RESULTS, {job: config_record(job[0], args.budget, args.eval_freq) for job in jobs}, "the run")
    run_resumable(RESULTS, FIELDS, jobs, args.workers, args.scheduler)
    print(table(list(configs), [row for row in load_rows(RESULTS) if int(row["seed"]) in args.seeds], args.budget))


if __name__ == "__main__":
    main()

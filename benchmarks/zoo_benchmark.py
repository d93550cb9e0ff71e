"""
Benchmark of record for zoo_configs/reinforce.yml: every entry trained through the RL Zoo launcher
(``python -m sb3_reinforce.zoo train``) on several seeds, with SB3's A2C and PPO on rl_zoo3's own hyperparameters
measured the same way beside it, at the same budget: the REINFORCE entry's ``n_timesteps``.

    python benchmarks/zoo_benchmark.py --workers 2                      # every env, 5 seeds
    python benchmarks/zoo_benchmark.py --envs CartPole-v1 --seeds 0 1   # a part of it

Each run evaluates the deterministic policy on 10 episodes every ``eval_freq`` env steps (rl_zoo3's own
EvalCallback, on a VecNormalize-synced env where the entry normalizes). Finished runs are skipped when re-run: their
rows are in benchmarks/results/zoo_benchmark.csv and their evaluation curves in benchmarks/results/zoo_benchmark/.
Writes docs/benchmark.md (the table, with the command, machine and date) and one learning-curve PNG per env in
docs/benchmark/.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]
from common import load_rows, run_resumable  # noqa: E402

from examples.common import markdown_table, plot_curves  # noqa: E402

RESULTS = os.path.join(HERE, "results", "zoo_benchmark.csv")
CURVES = os.path.join(HERE, "results", "zoo_benchmark")
DOCS = os.path.join(ROOT, "docs")
FIELDS = ["config", "env", "algo", "seed", "budget", "steps", "final_eval", "best_eval", "seconds"]
ALGOS = ["reinforce", "a2c", "ppo"]
# env -> (threshold, evaluation period): the env's own reward threshold; Pendulum-v1 has none
ENVS: dict[str, tuple[float | None, int]] = {
    "CartPole-v1": (475.0, 10_000),
    "Acrobot-v1": (-100.0, 10_000),
    "LunarLander-v3": (200.0, 25_000),
    "Pendulum-v1": (None, 10_000),
    "MountainCarContinuous-v0": (90.0, 5_000),
    "InvertedPendulum-v5": (950.0, 10_000),
}
# rl_zoo3 2.9 has no A2C/PPO entry for InvertedPendulum-v5: its entries for the same task are used, unchanged
ZOO_STAND_INS = {("ppo", "InvertedPendulum-v5"): "InvertedPendulum-v2", ("a2c", "InvertedPendulum-v5"): "Hopper-v4"}


def zoo_entry(algo: str, env_id: str) -> tuple[dict[str, Any], str]:
    """The hyperparameters ``algo`` trains ``env_id`` with, and where they come from."""
    import rl_zoo3

    # As written in the file (rl_zoo3 converts "lin_" values and policy_kwargs strings itself)
    if algo == "reinforce":
        path, key, source = os.path.join(ROOT, "zoo_configs", "reinforce.yml"), env_id, "zoo_configs/reinforce.yml"
    else:
        path = os.path.join(os.path.dirname(rl_zoo3.__file__), "hyperparams", f"{algo}.yml")
        key = ZOO_STAND_INS.get((algo, env_id), env_id)
        source = f"rl_zoo3 {algo}.yml" + ("" if key == env_id else f" ({key} entry)")
    with open(path) as file:
        return yaml.load(file, Loader=yaml.UnsafeLoader)[key], source


def run(env_id: str, algo: str, seed: int, budget: int, eval_freq: int, threshold: float | None) -> dict[str, Any]:
    """Train one (env, algo, seed) with the zoo launcher; keep its evaluation curve, drop the rest of its logs."""
    hyperparams, _ = zoo_entry(algo, env_id)
    with tempfile.TemporaryDirectory() as logs:
        conf_file = os.path.join(logs, "conf.yml")
        with open(conf_file, "w") as file:
            yaml.dump({env_id: hyperparams}, file)
        command = [sys.executable, "-m", "sb3_reinforce.zoo", "train", "--algo", algo, "--env", env_id, "--seed", str(seed)]
        command += ["-n", str(budget), "--eval-freq", str(eval_freq), "--eval-episodes", "10", "--n-eval-envs", "1"]
        command += ["-f", logs, "--conf-file", conf_file, "--num-threads", "1", "--verbose", "0", "--log-interval", "-1"]
        start = time.time()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.time() - start
        data = np.load(os.path.join(logs, algo, f"{env_id}_1", "evaluations.npz"))
        steps, means = data["timesteps"], data["results"].mean(axis=1)
    os.makedirs(CURVES, exist_ok=True)
    np.savez(os.path.join(CURVES, f"{env_id}_{algo}_{seed}.npz"), timesteps=steps, means=means)
    reached = np.flatnonzero(means >= threshold) if threshold is not None else []
    return dict(
        config=f"{env_id}/{algo}",
        env=env_id,
        algo=algo,
        seed=seed,
        budget=budget,
        steps=int(steps[reached[0]]) if len(reached) else "",
        final_eval=round(float(means[-1]), 1),
        best_eval=round(float(means.max()), 1),
        seconds=round(seconds, 1),
    )


def summary_rows(env_id: str, rows: list[dict[str, str]], threshold: float | None) -> list[list[Any]]:
    table = []
    for algo in ALGOS:
        runs = [row for row in rows if row["env"] == env_id and row["algo"] == algo]
        if not runs:
            continue
        hyperparams, source = zoo_entry(algo, env_id)
        final = [float(row["final_eval"]) for row in runs]
        reached, median = "-", "-"
        if threshold is not None:
            steps = [float(row["steps"]) if row["steps"] else np.inf for row in runs]
            reached = f"{sum(np.isfinite(steps))}/{len(runs)}"
            median = f"{np.median(steps):,.0f}" if np.isfinite(np.median(steps)) else "not reached"
        own = f"{int(float(hyperparams.get('n_timesteps', 0))):,}"
        per_seed = " ".join(f"{value:.0f}" for value in final)
        table.append([algo, source, own, f"{np.mean(final):.1f} +/- {np.std(final):.1f}", per_seed, reached, median])
    return table


def curves(env_id: str, seeds: list[int]) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for algo in ALGOS:
        for seed in seeds:
            path = os.path.join(CURVES, f"{env_id}_{algo}_{seed}.npz")
            if os.path.exists(path):
                data = np.load(path)
                found.setdefault(algo, []).append((data["timesteps"], data["means"]))
    return found


def report(envs: list[str], seeds: list[int], command: str) -> str:
    rows = [row for row in load_rows(RESULTS) if int(row["seed"]) in seeds]
    header = ["algo", "hyperparameters", "their own n_timesteps", "final eval (mean +/- std)", "per seed", "reached"]
    header.append("median steps")
    parts = []
    for env_id in envs:
        threshold = ENVS[env_id][0]
        budget = int(float(zoo_entry("reinforce", env_id)[0]["n_timesteps"]))
        plot = os.path.join(DOCS, "benchmark", f"{env_id}.png")
        found = curves(env_id, seeds)
        if not found:
            continue
        plot_curves(found, plot, f"{env_id} (budget {budget:,} steps)", "mean evaluation return (10 episodes)")
        thr = f"threshold {threshold:g}" if threshold is not None else "no reward threshold"
        parts += [
            f"## {env_id}\n",
            f"Budget {budget:,} env steps for every algorithm, {thr}, evaluated every {ENVS[env_id][1]:,} steps.\n",
            markdown_table(header, summary_rows(env_id, rows, threshold)),
            f"\n![{env_id}](benchmark/{env_id}.png)\n",
        ]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    parts.append(f"Command: `{command}`; machine: {machine}; date: {time.strftime('%Y-%m-%d')}.")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--algos", nargs="+", default=ALGOS, choices=ALGOS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default=os.path.join(DOCS, "benchmark.md"))
    args = parser.parse_args()

    gym.make("InvertedPendulum-v5") if "InvertedPendulum-v5" in args.envs else None  # fail early without mujoco
    jobs = {}
    for env_id in args.envs:
        budget = int(float(zoo_entry("reinforce", env_id)[0]["n_timesteps"]))
        threshold, eval_freq = ENVS[env_id]
        for algo in args.algos:
            for seed in args.seeds:
                jobs[(f"{env_id}/{algo}", seed)] = (run, (env_id, algo, seed, budget, eval_freq, threshold))
    run_resumable(RESULTS, FIELDS, jobs, args.workers)
    command = "python benchmarks/zoo_benchmark.py " + " ".join(sys.argv[1:])
    text = report(args.envs, args.seeds, command.strip())
    with open(args.output, "w") as file:
        file.write(HEADER + text + "\n")
    print(text)


HEADER = """# Benchmark of record: zoo_configs/reinforce.yml beside A2C and PPO

Every REINFORCE entry of `zoo_configs/reinforce.yml`, trained through the RL Zoo launcher
(`python -m sb3_reinforce.zoo train --algo reinforce --env <env> -n <budget> --seed <seed> --eval-freq ...`), and
SB3's A2C and PPO on rl_zoo3's own hyperparameters, trained by the same script in the same way. Every algorithm gets
the same budget, the REINFORCE entry's `n_timesteps`; the zoo's own `n_timesteps` of each is listed beside it
(rl_zoo3 anneals `lin_` schedules over the budget it is given). "final eval" is the last evaluation of each run (the
deterministic policy, 10 episodes); "reached" counts the seeds whose evaluation reached the env's reward threshold,
and "median steps" is the median over seeds of the env steps at which it first did (a seed that never did counts as
infinite). Plots: the mean over seeds, shaded from the worst to the best seed.

"""

if __name__ == "__main__":
    main()

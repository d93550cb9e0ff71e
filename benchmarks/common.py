"""Shared by the benchmark scripts: train one configuration on one seed and evaluate it on the way."""

import argparse
import csv
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

# The "seed recipe": one update per episode, one 128-unit hidden layer, Adam 3e-4, standardized reward-to-go.
SEED_RECIPE = dict(
    n_envs=1,
    n_steps=1,
    learning_rate=3e-4,
    gamma=0.99,
    baseline="none",
    normalize_advantage=True,
    rollout_mode="discard",
    max_grad_norm=None,
    policy_kwargs=dict(net_arch=[128]),
)


def load_rows(path: str) -> list[dict[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return list(csv.DictReader(file))


def run_resumable(path: str, fields: list[str], jobs: dict[tuple[str, int], tuple[Callable, tuple]], workers: int) -> None:
    """
    Run ``jobs`` ((config name, seed) -> (function, arguments)) in ``workers`` processes, appending each result (a dict
    with ``fields``) to the CSV file at ``path`` as it comes; jobs whose (config, seed) is already there are skipped.
    """
    done = {(row["config"], int(row["seed"])) for row in load_rows(path)}
    todo = [key for key in jobs if key not in done]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as file, ProcessPoolExecutor(workers) as pool:
        writer = csv.DictWriter(file, fields)
        if new_file:
            writer.writeheader()
        futures = [pool.submit(jobs[key][0], *jobs[key][1]) for key in todo]
        for i, future in enumerate(futures, 1):
            result = future.result()
            writer.writerow(result)
            file.flush()
            print(f"[{i}/{len(futures)}] {result}", flush=True)


def sweep_arguments(doc: str, envs: list[str], seeds: list[int]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The command line of a sweep script: --env, --configs, --seeds (default ``seeds``), --workers, --report-only."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=sorted(envs))
    parser.add_argument("--configs", nargs="+", help="names of the env's configs to run (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="print the table of the runs already in the CSV file")
    return parser, parser.parse_args()


def run_sweep(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    configs: dict[str, dict[str, Any]],
    run: Callable,
    budget: int,
    eval_freq: int,
    results: str,
    fields: list[str],
) -> list[dict[str, str]]:
    """
    Run (resumably, unless ``--report-only``) ``run(env, name, config, seed, budget, eval_freq)`` for the chosen configs
    of ``args.env`` and seeds, and return the CSV rows of those configs. A config's own ``n_timesteps`` (as in a zoo
    entry) is its budget.
    """
    names = args.configs or list(configs)
    unknown = sorted(set(names) - set(configs))
    if unknown:
        parser.error(f"unknown --configs {unknown} for {args.env}; choose from {sorted(configs)}")
    jobs = {
        (f"{args.env}/{name}", seed): (
            run,
            (args.env, name, configs[name], seed, int(configs[name].get("n_timesteps", budget)), eval_freq),
        )
        for name in names
        for seed in args.seeds
    }
    if not args.report_only:
        run_resumable(results, fields, jobs, args.workers)
    return [row for row in load_rows(results) if row["config"] in {f"{args.env}/{name}" for name in names}]


def train_and_evaluate(
    env_id: str | Callable[[], Any],
    hyperparams: dict[str, Any],
    seed: int,
    budget: int,
    eval_freq: int,
    threshold: float,
    stop_at_threshold: bool,
    algo: str = "reinforce",
) -> dict[str, Any]:
    """
    Train ``algo`` with ``hyperparams`` (RL Zoo style: ``n_envs`` and ``policy`` included) on ``env_id`` (an id or an
    env factory) for ``budget`` env steps, evaluating the deterministic policy on 10 episodes every ``eval_freq`` steps
    (with action masks for the maskable algorithms).

    :return: steps (env steps when an evaluation first reached ``threshold``, None if never),
        final_eval (last evaluation), best_eval, seconds
    """
    from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    model, env, eval_env = build(env_id, hyperparams, seed, algo)
    n_envs = env.num_envs
    eval_callback_class = MaskableEvalCallback if algo.endswith("_mask") else EvalCallback
    stop = StopTrainingOnRewardThreshold(reward_threshold=threshold) if stop_at_threshold else None
    with tempfile.TemporaryDirectory() as log_path:
        evaluation = eval_callback_class(
            eval_env,
            callback_on_new_best=stop,
            n_eval_episodes=10,
            eval_freq=max(eval_freq // n_envs, 1),
            log_path=log_path,
            verbose=0,
        )
        start = time.time()
        model.learn(budget, callback=evaluation)
        seconds = time.time() - start
        data = np.load(os.path.join(log_path, "evaluations.npz"))
    means = data["results"].mean(axis=1)
    reached = np.flatnonzero(means >= threshold)
    return dict(
        steps=int(data["timesteps"][reached[0]]) if len(reached) else None,
        final_eval=round(float(means[-1]), 1),
        best_eval=round(float(means.max()), 1),
        seconds=round(seconds, 1),
    )


def build(
    env_id: str | Callable[[], Any], hyperparams: dict[str, Any], seed: int, algo: str = "reinforce", n_eval_envs: int = 1
) -> tuple:
    """
    The model (``algo`` with RL Zoo style ``hyperparams``: ``n_envs``, ``policy``, ``normalize`` included), its training
    env (seeded ``seed``) and an evaluation env of ``n_eval_envs`` envs (seeded ``seed + 1000``; with VecNormalize,
    frozen and on raw rewards).
    """
    import torch as th
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from sb3_reinforce import REINFORCE, MaskableREINFORCE
    from sb3_reinforce.train import convert_zoo_values, vec_normalize_kwargs

    th.set_num_threads(1)
    algos = {"reinforce": REINFORCE, "a2c": A2C, "ppo": PPO, "reinforce_mask": MaskableREINFORCE, "ppo_mask": MaskablePPO}
    hyperparams = convert_zoo_values(hyperparams)
    n_envs = hyperparams.pop("n_envs", 1)
    policy = hyperparams.pop("policy", "MlpPolicy")
    normalize = vec_normalize_kwargs(hyperparams.pop("normalize", False))
    hyperparams.pop("n_timesteps", None)
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    eval_env = make_vec_env(env_id, n_envs=n_eval_envs, seed=seed + 1000)
    if normalize is not None:
        # as the zoo does: the eval env shares the observation statistics (EvalCallback syncs them) and sees raw rewards
        env = VecNormalize(env, gamma=hyperparams.get("gamma", 0.99), **normalize)
        eval_env = VecNormalize(eval_env, **{**normalize, "training": False, "norm_reward": False})
    return algos[algo](policy, env, seed=seed, device="cpu", **hyperparams), env, eval_env


def steps_table(rows: list[dict[str, str]], threshold: float) -> str:
    """Markdown table per config of ``rows`` (``train_and_evaluate`` results): steps to ``threshold``, final evaluation."""
    lines = [
        f"| config | reached {threshold:g} | median steps to {threshold:g} | steps per seed | final eval (mean +/- std) |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(row["config"] for row in rows):
        runs = [row for row in rows if row["config"] == name]
        steps = [int(row["steps"]) if row["steps"] else None for row in runs]
        median = np.median([s if s is not None else np.inf for s in steps])
        per_seed = " ".join(f"{s // 1000}k" if s is not None else "never" for s in steps)
        final = [float(row["final_eval"]) for row in runs]
        median_text = f"{int(median):,}" if np.isfinite(median) else "never"
        reached = sum(s is not None for s in steps)
        lines.append(
            f"| {name} | {reached}/{len(runs)} | {median_text} | {per_seed} | {np.mean(final):.1f} +/- {np.std(final):.1f} |"
        )
    return "\n".join(lines)


class TwoWayEvaluation(BaseCallback):
    """
    Every ``eval_freq`` env steps, the mean return of ``n_eval_episodes`` episodes (run side by side in as many envs
    seeded ``seed + 1000``) of the stochastic policy (actions sampled: the policy that is trained) and of the
    deterministic one. With VecNormalize, the evaluation envs use the training env's observation statistics, frozen,
    and raw rewards. The curves are saved to ``path`` (.npz: timesteps, stochastic, deterministic) after every
    evaluation, so that a run cut short keeps them. Usable from a zoo config (``callback:`` with these keyword
    arguments), where ``benchmarks/`` is on the Python path.
    """

    def __init__(self, env_id: str, eval_freq: int, path: str, seed: int = 0, n_eval_episodes: int = 10):
        super().__init__()
        self.env_id, self.eval_freq, self.path, self.seed = env_id, eval_freq, path, seed
        self.n_eval_episodes = n_eval_episodes
        self.curves: dict[str, list[float]] = {"timesteps": [], "stochastic": [], "deterministic": []}

    def _init_callback(self) -> None:
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecNormalize

        self.eval_env = make_vec_env(self.env_id, n_envs=self.n_eval_episodes, seed=self.seed + 1000)
        training = self.model.get_vec_normalize_env()
        if training is not None:
            self.eval_env = VecNormalize(
                self.eval_env, training=False, norm_obs=training.norm_obs, norm_reward=False, clip_obs=training.clip_obs
            )

    def _on_step(self) -> bool:
        if self.num_timesteps >= (len(self.curves["timesteps"]) + 1) * self.eval_freq:
            self.evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.curves["timesteps"] or self.curves["timesteps"][-1] < self.num_timesteps:
            self.evaluate()  # the last evaluation is the policy at the end of training

    def evaluate(self) -> None:
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import sync_envs_normalization

        sync_envs_normalization(self.training_env, self.eval_env)
        self.curves["timesteps"].append(self.num_timesteps)
        for key, deterministic in (("stochastic", False), ("deterministic", True)):
            mean, _ = evaluate_policy(self.model, self.eval_env, self.n_eval_episodes, deterministic=deterministic)
            self.curves[key].append(float(mean))
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        np.savez(self.path, **{key: np.array(value) for key, value in self.curves.items()})


def collapsed(curve: np.ndarray, random_score: float) -> bool:
    """Whether a run that did better than the random policy ends closer to the random policy's score than to its best:
    last - random < (best - random) / 2 (for a positive reward and a random score near 0: below half of its best)."""
    gain = curve.max() - random_score
    return bool(gain > 0 and curve[-1] - random_score < gain / 2)

"""Shared by the benchmark scripts: train one configuration on one seed and evaluate it on the way."""

import os
import tempfile
import time
from typing import Any

import numpy as np


def train_and_evaluate(
    env_id: str,
    hyperparams: dict[str, Any],
    seed: int,
    budget: int,
    eval_freq: int,
    threshold: float,
    stop_at_threshold: bool,
    algo: str = "reinforce",
) -> dict[str, Any]:
    """
    Train ``algo`` with ``hyperparams`` (RL Zoo style: ``n_envs`` and ``policy`` included) for ``budget`` env
    steps, evaluating the deterministic policy on 10 episodes every ``eval_freq`` steps.

    :return: steps (env steps when an evaluation first reached ``threshold``, None if never),
        final_eval (last evaluation), best_eval, seconds
    """
    import torch as th
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_reinforce import REINFORCE

    th.set_num_threads(1)
    algo_class = {"reinforce": REINFORCE, "a2c": A2C, "ppo": PPO}[algo]
    hyperparams = dict(hyperparams)
    n_envs = hyperparams.pop("n_envs", 1)
    policy = hyperparams.pop("policy", "MlpPolicy")
    hyperparams.pop("n_timesteps", None)
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 1000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=threshold) if stop_at_threshold else None
    with tempfile.TemporaryDirectory() as log_path:
        evaluation = EvalCallback(
            eval_env,
            callback_on_new_best=stop,
            n_eval_episodes=10,
            eval_freq=max(eval_freq // n_envs, 1),
            log_path=log_path,
            verbose=0,
        )
        model = algo_class(policy, env, seed=seed, device="cpu", **hyperparams)
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

"""
Continuous control with REINFORCE: a MuJoCo task as control users train it.

    python -m examples.continuous_control                       # InvertedPendulum-v5, 3 seeds
    python -m examples.continuous_control --env-id Hopper-v5 --conf-file my_hopper.yml --seeds 0   # your own entry

What it shows:

- the hyperparameters are the env's entry in ``zoo_configs/reinforce.yml`` (no second set here);
- ``VecNormalize`` on observations and rewards; its statistics are saved beside the model and loaded back with it;
- a Gaussian policy with a state-independent log-std (SB3's default; the zoo entry may ask for gSDE, ``use_sde``)
  and a learned value baseline;
- evaluation of the deterministic policy on a normalized env that shares the training statistics but sees raw
  rewards, during training (the learning curve) and after reloading the saved model (the table).

Writes ``results.md`` (the table), ``learning_curve.png`` and each seed's model and ``vecnormalize.pkl`` to
``--output-dir``. Needs the ``examples`` extra (``pip install -e '.[examples]'``: mujoco, matplotlib).
"""

import argparse
import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization

from examples.common import CurveCallback, markdown_table, mean_std, plot_curves, write_report
from sb3_reinforce import REINFORCE
from sb3_reinforce.train import load_zoo_hyperparams, make_envs

MODULE = "examples.continuous_control"
CONF_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo_configs", "reinforce.yml")


def evaluate(model: REINFORCE, eval_env: VecEnv, n_episodes: int) -> float:
    sync_envs_normalization(model.get_env(), eval_env)
    return float(evaluate_policy(model, eval_env, n_eval_episodes=n_episodes, deterministic=True)[0])


def train_one(env_id: str, hyperparams: dict[str, Any], seed: int, timesteps: int, eval_freq: int, output_dir: str) -> dict:
    """Train one seed, save the model and its VecNormalize statistics, reload both and evaluate on 20 episodes."""
    hyperparams = dict(hyperparams)
    n_envs, policy = hyperparams.pop("n_envs", 1), hyperparams.pop("policy", "MlpPolicy")
    normalize = hyperparams.pop("normalize", True) or True  # this example always normalizes
    hyperparams.pop("n_timesteps", None)
    env, eval_env = make_envs(env_id, n_envs, seed, normalize, hyperparams.get("gamma", 0.99))
    model = REINFORCE(policy, env, seed=seed, device="cpu", **hyperparams)
    curve = CurveCallback(lambda m: evaluate(m, eval_env, 5), eval_freq)
    model.learn(timesteps, callback=curve)

    path = os.path.join(output_dir, f"seed_{seed}")
    os.makedirs(path, exist_ok=True)
    model.save(os.path.join(path, "model.zip"))
    env.save(os.path.join(path, "vecnormalize.pkl"))
    loaded_env = VecNormalize.load(os.path.join(path, "vecnormalize.pkl"), make_vec_env(env_id, n_envs=1, seed=seed + 20_000))
    loaded_env.training, loaded_env.norm_reward = False, False
    loaded = REINFORCE.load(os.path.join(path, "model.zip"), env=loaded_env, device="cpu")
    final, _ = evaluate_policy(loaded, loaded_env, n_eval_episodes=20, deterministic=True)
    return dict(seed=seed, steps=curve.steps, values=curve.values, final=float(final))


def random_return(env_id: str, n_episodes: int = 20) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    returns = []
    for episode in range(n_episodes):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def steps_to_threshold(runs: list[dict], threshold: float | None) -> list[str]:
    """How many seeds' learning curves reached ``threshold``, and the median env steps to it (unreached: infinite)."""
    if threshold is None:
        return ["-", "-"]
    steps = [next((s for s, v in zip(run["steps"], run["values"], strict=True) if v >= threshold), np.inf) for run in runs]
    median = np.median(steps)
    return [f"{int(np.isfinite(steps).sum())}/{len(runs)}", f"{median:,.0f}" if np.isfinite(median) else "not reached"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env-id", default="InvertedPendulum-v5", help="a gymnasium MuJoCo env (default: InvertedPendulum-v5)"
    )
    parser.add_argument(
        "--conf-file", default=CONF_FILE, help="zoo-style hyperparameters (default: zoo_configs/reinforce.yml)"
    )
    parser.add_argument("--timesteps", type=int, help="env steps per seed (default: the zoo entry's n_timesteps)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-freq", type=int, default=10_000, help="env steps between two evaluations (default: 10000)")
    parser.add_argument("--output-dir", default=os.path.join("examples", "results", "continuous_control"))
    args = parser.parse_args(argv)
    if args.timesteps is not None and args.timesteps <= 0:
        parser.error(f"--timesteps must be a positive number of env steps, got {args.timesteps}")
    if args.eval_freq <= 0:
        parser.error(f"--eval-freq must be positive, got {args.eval_freq}")
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    th.set_num_threads(1)
    hyperparams = load_zoo_hyperparams(args.conf_file, args.env_id)
    timesteps = args.timesteps or int(hyperparams["n_timesteps"])
    threshold = gym.spec(args.env_id).reward_threshold
    runs = [train_one(args.env_id, hyperparams, seed, timesteps, args.eval_freq, args.output_dir) for seed in args.seeds]

    plot_curves(
        {"REINFORCE": [(run["steps"], run["values"]) for run in runs]},
        os.path.join(args.output_dir, "learning_curve.png"),
        f"REINFORCE on {args.env_id}",
        "evaluation return (5 episodes)",
    )
    header = ["policy", "seeds", "final return, reloaded model (20 episodes)", f"seeds reaching {threshold}", "median steps"]
    rows = [
        ["random actions", "-", f"{random_return(args.env_id):.1f}", "-", "-"],
        ["REINFORCE", len(runs), mean_std([run["final"] for run in runs]), *steps_to_threshold(runs, threshold)],
    ]
    hyperparams_text = ", ".join(f"{key}={value}" for key, value in hyperparams.items() if key != "n_timesteps")
    body = "\n".join(
        [
            f"{args.env_id}, {timesteps:,} env steps per seed, hyperparameters from `{os.path.relpath(args.conf_file)}`:",
            f"{hyperparams_text}; observations and rewards normalized by `VecNormalize`.",
            "",
            markdown_table(header, rows),
            "",
            "![learning curve](learning_curve.png)",
        ]
    )
    text = write_report(args.output_dir, f"Continuous control: REINFORCE on {args.env_id}", body, MODULE, argv)
    print(text)
    return text


if __name__ == "__main__":
    main()

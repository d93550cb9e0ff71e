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

Writes ``results.md`` (the table), ``config.json`` (the resolved configuration: ``run_config``),
``learning_curve.png`` and, per seed, the final and the best model, each with its
VecNormalize statistics (``model.zip`` and ``model_vecnormalize.pkl``, ``best_model.zip`` and
``best_model_vecnormalize.pkl``) to ``--output-dir``. Needs the ``examples`` extra (``pip install -e '.[examples]'``:
mujoco, matplotlib).
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
from examples.records import resolved_hyperparams, write_example_record
from sb3_reinforce import REINFORCE
from sb3_reinforce.train import load_zoo_hyperparams, make_envs

MODULE = "examples.continuous_control"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF_FILE = os.path.join(ROOT, "zoo_configs", "reinforce.yml")


def evaluate(model: REINFORCE, eval_env: VecEnv, n_episodes: int) -> float:
    sync_envs_normalization(model.get_env(), eval_env)
    return float(evaluate_policy(model, eval_env, n_eval_episodes=n_episodes, deterministic=True)[0])


def save(model: REINFORCE, path: str, name: str) -> None:
    """The model and its VecNormalize statistics, side by side: ``<name>.zip`` and ``<name>_vecnormalize.pkl``."""
    model.save(os.path.join(path, f"{name}.zip"))
    model.get_vec_normalize_env().save(os.path.join(path, f"{name}_vecnormalize.pkl"))


def load_and_evaluate(env_id: str, path: str, name: str, seed: int) -> float:
    """Load a saved model with its statistics into a fresh env (frozen statistics, raw rewards); 20 episodes."""
    env = VecNormalize.load(os.path.join(path, f"{name}_vecnormalize.pkl"), make_vec_env(env_id, n_envs=1, seed=seed))
    env.training, env.norm_reward = False, False
    model = REINFORCE.load(os.path.join(path, f"{name}.zip"), env=env, device="cpu")
    return float(evaluate_policy(model, env, n_eval_episodes=20, deterministic=True)[0])


def train_one(env_id: str, hyperparams: dict[str, Any], seed: int, timesteps: int, eval_freq: int, output_dir: str) -> dict:
    """
    Train one seed; save the final model and the best one on the learning curve (as SB3's EvalCallback does), each
    with its VecNormalize statistics; reload both and evaluate them on 20 episodes.
    """
    hyperparams = dict(hyperparams)
    n_envs, policy = hyperparams.pop("n_envs", 1), hyperparams.pop("policy", "MlpPolicy")
    normalize = hyperparams.pop("normalize", True) or True  # this example always normalizes
    hyperparams.pop("n_timesteps", None)
    env, eval_env = make_envs(env_id, n_envs, seed, normalize, hyperparams.get("gamma", 0.99))
    model = REINFORCE(policy, env, seed=seed, device="cpu", **hyperparams)
    path = os.path.join(output_dir, f"seed_{seed}")
    os.makedirs(path, exist_ok=True)
    best = [-np.inf]

    def evaluate_and_keep_best(model: REINFORCE) -> float:
        value = evaluate(model, eval_env, 5)
        if value >= best[0]:
            best[0] = value
            save(model, path, "best_model")
        return value

    curve = CurveCallback(evaluate_and_keep_best, eval_freq)
    model.learn(timesteps, callback=curve)
    save(model, path, "model")
    final = load_and_evaluate(env_id, path, "model", seed + 20_000)
    best_model = load_and_evaluate(env_id, path, "best_model", seed + 20_000)
    return dict(seed=seed, steps=curve.steps, values=curve.values, final=final, best=best_model)


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


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """
    What a run with ``args`` trains, resolved (the zoo entry over REINFORCE's defaults; ``train_one`` always
    normalizes): recorded in ``config.json`` beside the results, and compared with the committed one by
    tests/test_results_current.py.
    """
    hyperparams = load_zoo_hyperparams(args.conf_file, args.env_id)
    return dict(
        env_id=args.env_id,
        conf_file=os.path.relpath(os.path.abspath(args.conf_file), ROOT),
        timesteps=args.timesteps or int(hyperparams["n_timesteps"]),
        seeds=args.seeds,
        eval_freq=args.eval_freq,
        hyperparams=resolved_hyperparams(REINFORCE, {**hyperparams, "normalize": True}),
    )


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
    header = ["policy", "seeds", "final model", "best model", "per seed (final / best)", f"seeds reaching {threshold}"]
    header.append("median steps to it")
    reached = steps_to_threshold(runs, threshold)
    per_seed = " ".join(f"{run['final']:.0f}/{run['best']:.0f}" for run in runs)
    rows = [
        ["random actions", "-", f"{random_return(args.env_id):.1f}", "-", "-", "-", "-"],
        ["REINFORCE", len(runs), *[mean_std([run[key] for run in runs]) for key in ("final", "best")], per_seed, *reached],
    ]
    hyperparams_text = ", ".join(f"{key}={value}" for key, value in hyperparams.items() if key != "n_timesteps")
    body = "\n".join(
        [
            f"{args.env_id}, {timesteps:,} env steps per seed, hyperparameters from `{os.path.relpath(args.conf_file)}`:",
            f"{hyperparams_text}; observations and rewards normalized by `VecNormalize`.",
            'Returns: the saved model reloaded with its statistics, 20 episodes, deterministic actions; "best model" is',
            "the model saved at the best point of the learning curve (5 episodes per point).",
            "",
            markdown_table(header, rows),
            "",
            "![learning curve](learning_curve.png)",
        ]
    )
    text = write_report(args.output_dir, f"Continuous control: REINFORCE on {args.env_id}", body, MODULE, argv)
    write_example_record(args.output_dir, MODULE, argv, run_config(args))
    print(text)
    return text


if __name__ == "__main__":
    main()

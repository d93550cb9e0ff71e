"""
Train REINFORCE on a gymnasium env, evaluate it and save it: the project's main job.

    python -m sb3_reinforce                      # CartPole-v1 with the default hyperparameters
    python -m sb3_reinforce --env Acrobot-v1 --timesteps 500000 --n-envs 8

Training stops early once the evaluation return reaches the env's reward threshold (``--stop-at``).
"""

import argparse
import os
import time

import gymnasium as gym
import torch as th
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sb3_reinforce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium env id (default: CartPole-v1)")
    parser.add_argument("--timesteps", type=int, default=300_000, help="training budget in env steps (default: 300000)")
    parser.add_argument("--n-envs", type=int, default=1, help="parallel envs (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stop-at",
        type=float,
        default=None,
        help="evaluation return that ends training early (default: the env's reward threshold)",
    )
    parser.add_argument("--eval-freq", type=int, default=10_000, help="evaluate every this many env steps (default: 10000)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes of the final evaluation (default: 20)")
    parser.add_argument("--save-path", default=None, help="where to save the model (default: logs/reinforce_<env>.zip)")
    parser.add_argument("--no-progress-bar", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    th.set_num_threads(1)  # small networks: threads cost more than they bring
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    stop_at = args.stop_at if args.stop_at is not None else gym.spec(args.env).reward_threshold
    callback = None
    if stop_at is not None:
        stop = StopTrainingOnRewardThreshold(reward_threshold=stop_at, verbose=1)
        callback = EvalCallback(
            eval_env, callback_on_new_best=stop, eval_freq=max(args.eval_freq // args.n_envs, 1), verbose=0
        )

    model = REINFORCE("MlpPolicy", env, seed=args.seed, device="cpu")
    start = time.time()
    model.learn(args.timesteps, callback=callback, progress_bar=not args.no_progress_bar)
    train_seconds = time.time() - start

    save_path = args.save_path or os.path.join("logs", f"reinforce_{args.env}.zip")
    os.makedirs(os.path.dirname(save_path) or ".", exist_ok=True)
    model.save(save_path)

    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"Trained REINFORCE on {args.env} for {model.num_timesteps} env steps in {train_seconds:.0f} s")
    print(f"Evaluation return over {args.eval_episodes} episodes: {mean_return:.1f} +/- {std_return:.1f}")
    print(f"Model saved to {os.path.abspath(save_path)}")
    return float(mean_return)


if __name__ == "__main__":
    main()

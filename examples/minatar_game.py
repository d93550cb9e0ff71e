"""
A small real video game: REINFORCE with a value baseline learns MinAtar Breakout (Young & Tian, 2019) from its
10x10 images on a CPU, beside SB3's A2C with the same network and budget, and a random policy.

    python -m examples.minatar_game                                   # Breakout, 200k steps, 3 seeds: ~5 min, 2 cores
    python -m examples.minatar_game --env-id MinAtar/SpaceInvaders-v1 --timesteps 500000 --seeds 0 1 2 3 4

MinAtar's observations are 10x10xC boolean images, channels last (one channel per kind of object: paddle, ball,
trail, brick in Breakout). SB3's ``NatureCNN`` (8x8 then 4x4 strided convolutions) needs at least 36x36 pixels, so the
policy uses ``MinAtarCNN``: the network of Young & Tian's baselines, one 3x3 convolution with 16 channels and one
128-unit layer, shared by the actor and the critic. The observations are used as they are (no wrapper): SB3 only
treats ``uint8`` boxes as images, so a boolean box is neither transposed nor divided by 255; the policy casts it to
0/1 floats and ``MinAtarCNN`` moves the channels first itself. ``normalize_images=False`` says so explicitly.

MinAtar registers no time limit, and REINFORCE completes every episode before it updates, so each env is wrapped
in a ``TimeLimit`` of ``--max-episode-steps`` (1000 by default; a cut episode is bootstrapped with the value
baseline). Raise it for long games (MinAtar Freeway ends by itself after 2500 steps). Rewards are cast to ``float``.

REINFORCE's settings were picked on Breakout, seed 0, 200k steps, 8 envs (final return over 100 episodes), with
``ent_coef=0.01``: (``n_steps``, ``learning_rate``) = (32, 1e-3): 3.0, (8, 1e-3): 3.2, (8, 3e-3): 4.3, (16, 3e-3): 4.5,
(16, 6e-3): 4.8 with a noisier curve. The package defaults (``n_steps=128``, 1e-3, no entropy bonus) make too few
updates in this budget: 1.4. A2C keeps SB3's defaults: with ``ent_coef=0.01`` it scored 4.4 against 5.0 (same seed).

Reference: Young & Tian (2019, arXiv:1903.03176) train their DQN and actor-critic baselines for 5 million frames, 25
times this default budget, and report learning curves; the table here compares with a random policy and A2C at the
same budget instead.

Writes ``results.md`` (the table), ``config.json`` (the resolved configuration: ``run_config``) and
``learning_curve.png`` (evaluation return against env steps) to ``--output-dir``.
"""

import argparse
import os
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv

from examples.common import CurveCallback, markdown_table, mean_std, plot_curves, write_report
from examples.records import resolved_hyperparams, write_example_record
from sb3_reinforce import REINFORCE

DEFAULT_ENV_ID = "MinAtar/Breakout-v1"
DEFAULT_OUTPUT_DIR = os.path.join("examples", "results", "minatar_game")
DEFAULT_TIMESTEPS = 200_000
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_MAX_EPISODE_STEPS = 1000
N_ENVS = 8
N_EVAL_EPISODES = 20  # per point of the learning curve
DEFAULT_EVAL_EPISODES = 100  # per seed, for the table
N_CURVE_POINTS = 15

# REINFORCE: tuned a little on Breakout (see the module docstring); A2C keeps SB3's defaults (n_steps=5, RMSprop lr=7e-4,
# ent_coef=0, max_grad_norm=0.5). Both get the same network, envs and budget.
HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "REINFORCE": dict(n_steps=16, learning_rate=3e-3, baseline="value", ent_coef=0.01),
    "A2C": {},
}
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"REINFORCE": REINFORCE, "A2C": A2C}


class MinAtarCNN(BaseFeaturesExtractor):
    """
    The network of the MinAtar baselines (Young & Tian, 2019) for small images, channels last: one 3x3 convolution
    (stride 1, no padding) with ``n_filters`` channels, then one fully connected layer of ``features_dim`` units,
    both with ReLU.

    :param observation_space: a ``Box`` of shape (height, width, channels), values in [0, 1] (any dtype)
    :param features_dim: number of features extracted (units of the fully connected layer)
    :param n_filters: number of channels of the convolution
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 128, n_filters: int = 16):
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise ValueError(
                f"MinAtarCNN needs a Box observation space of shape (height, width, channels), got {observation_space}"
            )
        height, width, n_channels = observation_space.shape
        if height < 3 or width < 3:
            raise ValueError(f"MinAtarCNN needs images of at least 3x3 pixels, got {height}x{width}")
        super().__init__(observation_space, features_dim)
        self.cnn = th.nn.Sequential(th.nn.Conv2d(n_channels, n_filters, kernel_size=3), th.nn.ReLU(), th.nn.Flatten())
        n_flatten = n_filters * (height - 2) * (width - 2)
        self.linear = th.nn.Sequential(th.nn.Linear(n_flatten, features_dim), th.nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(observations.permute(0, 3, 1, 2)))


def policy_kwargs(features_dim: int = 128) -> dict[str, Any]:
    """The ``policy_kwargs`` of both algorithms: ``MinAtarCNN`` shared by actor and critic, each a linear head on it."""
    return dict(
        features_extractor_class=MinAtarCNN,
        features_extractor_kwargs=dict(features_dim=features_dim),
        normalize_images=False,
        net_arch=[],
    )


def minatar_env_ids() -> list[str]:
    """Register MinAtar's gymnasium envs (once) and return their ids."""
    import minatar.gym

    if not any(env_id.startswith("MinAtar/") for env_id in gym.registry):
        minatar.gym.register_envs()
    return sorted(env_id for env_id in gym.registry if env_id.startswith("MinAtar/"))


def make_env(env_id: str = DEFAULT_ENV_ID, max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS) -> gym.Env:
    """
    One MinAtar game, cut by a ``TimeLimit`` (recorded in ``env.spec.max_episode_steps``, where REINFORCE reads how
    long an episode can take to complete), its rewards cast to ``float`` (SpaceInvaders returns numpy integers, which
    SB3's ``check_env`` rejects).

    :param env_id: a MinAtar id such as ``MinAtar/Breakout-v1`` (v1: the game's minimal action set, v0: all 6 actions)
    :param max_episode_steps: the time limit
    """
    ids = minatar_env_ids()
    if env_id not in ids:
        raise ValueError(f"unknown MinAtar env id {env_id!r}: use one of {', '.join(ids)}")
    return gym.wrappers.TransformReward(gym.make(env_id, max_episode_steps=max_episode_steps), float)


def make_model(algo: str, env: VecEnv, seed: int) -> BaseAlgorithm:
    """``algo`` ("REINFORCE" or "A2C") with the shared network and its own ``HYPERPARAMETERS``."""
    return ALGORITHMS[algo]("CnnPolicy", env, policy_kwargs=policy_kwargs(), seed=seed, **HYPERPARAMETERS[algo])


def evaluate(model: BaseAlgorithm, env: VecEnv, n_episodes: int) -> float:
    """
    Mean return of ``n_episodes`` episodes, actions sampled from the policy (as during training, and as in Young &
    Tian's curves, which plot the returns of the training episodes).
    """
    mean_return, _ = evaluate_policy(model, env, n_eval_episodes=n_episodes, deterministic=False)
    return float(mean_return)


def train_run(
    algo: str,
    env_id: str,
    timesteps: int,
    seed: int,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    eval_episodes: int = DEFAULT_EVAL_EPISODES,
) -> dict[str, Any]:
    """
    Train ``algo`` for ``timesteps`` env steps with one seed; return its learning curve, its final evaluation
    return (mean over ``eval_episodes`` episodes) and its training time (evaluations excluded).
    """
    env = make_vec_env(make_env, n_envs=N_ENVS, seed=seed, env_kwargs=dict(env_id=env_id, max_episode_steps=max_episode_steps))
    eval_env = make_vec_env(
        make_env, n_envs=1, seed=seed + 10_000, env_kwargs=dict(env_id=env_id, max_episode_steps=max_episode_steps)
    )
    model = make_model(algo, env, seed)
    eval_time = [0.0]

    def timed_evaluate(model: BaseAlgorithm) -> float:
        start = time.perf_counter()
        value = evaluate(model, eval_env, N_EVAL_EPISODES)
        eval_time[0] += time.perf_counter() - start
        return value

    curve = CurveCallback(timed_evaluate, eval_freq=max(timesteps // N_CURVE_POINTS, 1))
    start = time.perf_counter()
    model.learn(timesteps, callback=curve)
    train_seconds = time.perf_counter() - start - eval_time[0]
    final_return = evaluate(model, eval_env, eval_episodes)
    env.close()
    eval_env.close()
    return dict(steps=curve.steps, values=curve.values, final_return=final_return, seconds=train_seconds)


def random_return(env_id: str, seed: int, n_episodes: int, max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS) -> float:
    """Mean return of a uniformly random policy over ``n_episodes`` episodes."""
    env = make_env(env_id, max_episode_steps)
    env.action_space.seed(seed)
    returns = []
    for episode in range(n_episodes):
        env.reset(seed=seed if episode == 0 else None)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.minatar_game",
        description="REINFORCE (value baseline) and A2C with the same small CNN on a MinAtar game; "
        "writes results.md and learning_curve.png.",
    )
    parser.add_argument("--env-id", default=DEFAULT_ENV_ID, help=f"a MinAtar gymnasium id (default: {DEFAULT_ENV_ID})")
    parser.add_argument("--timesteps", type=int, default=DEFAULT_TIMESTEPS, help="env steps per run (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="one run per seed (default: 0 1 2)")
    parser.add_argument(
        "--max-episode-steps",
        type=int,
        default=DEFAULT_MAX_EPISODE_STEPS,
        help="time limit of an episode (default: %(default)s)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=DEFAULT_EVAL_EPISODES,
        help="final evaluation episodes per run (default: %(default)s)",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="where to write the results (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        ids = minatar_env_ids()
    except ImportError:
        parser.error("this example needs MinAtar: pip install minatar (or pip install -e '.[examples]')")
    if args.env_id not in ids:
        parser.error(f"unknown --env-id {args.env_id!r}: use one of {', '.join(ids)}")
    if args.timesteps < N_ENVS:
        parser.error(f"--timesteps must be at least {N_ENVS} (one step of each of the {N_ENVS} envs), got {args.timesteps}")
    if args.eval_episodes < 1:
        parser.error(f"--eval-episodes must be >= 1, got {args.eval_episodes}")
    if args.max_episode_steps < 1:
        parser.error(f"--max-episode-steps must be >= 1, got {args.max_episode_steps}")
    return args


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """
    What a run with ``args`` trains and measures, each algorithm's arguments over its keyword defaults: recorded in
    ``config.json`` beside the results, and compared with the committed one by tests/test_results_current.py.
    """
    algorithms = {
        algo: dict(
            algorithm=ALGORITHMS[algo],
            hyperparams=resolved_hyperparams(
                ALGORITHMS[algo], {"policy": "CnnPolicy", "policy_kwargs": policy_kwargs(), **HYPERPARAMETERS[algo]}, False
            ),
        )
        for algo in ALGORITHMS
    }
    return dict(
        env_id=args.env_id,
        timesteps=args.timesteps,
        seeds=args.seeds,
        max_episode_steps=args.max_episode_steps,
        eval_episodes=args.eval_episodes,
        n_envs=N_ENVS,
        curve=dict(n_eval_episodes=N_EVAL_EPISODES, n_points=N_CURVE_POINTS),
        algorithms=algorithms,
    )


def main(argv: list[str] | None = None) -> str:
    """Run the example; return the text of results.md."""
    args = parse_args(argv)
    th.set_num_threads(1)  # a tiny network: one thread is the fastest, and leaves the other cores free
    curves: dict[str, list[tuple[list[int], list[float]]]] = {}
    rows = []
    for algo in ALGORITHMS:
        runs = []
        for seed in args.seeds:
            run = train_run(algo, args.env_id, args.timesteps, seed, args.max_episode_steps, args.eval_episodes)
            print(f"{algo} seed {seed}: final return {run['final_return']:.2f}, trained in {run['seconds']:.0f} s", flush=True)
            runs.append(run)
        curves[algo] = [(run["steps"], run["values"]) for run in runs]
        finals = [run["final_return"] for run in runs]
        per_seed = " ".join(f"{value:.1f}" for value in finals)
        rows.append([algo, mean_std(finals, 2), per_seed, f"{np.median([run['seconds'] for run in runs]):.0f}"])
    randoms = [random_return(args.env_id, seed, args.eval_episodes, args.max_episode_steps) for seed in args.seeds]
    rows.append(["random policy", mean_std(randoms, 2), " ".join(f"{value:.1f}" for value in randoms), "-"])

    os.makedirs(args.output_dir, exist_ok=True)
    plot_path = os.path.join(args.output_dir, "learning_curve.png")
    plot_curves(curves, plot_path, title=f"{args.env_id}, {N_ENVS} envs", ylabel=f"mean return ({N_EVAL_EPISODES} episodes)")
    header = ["agent", "final return (mean +/- std over seeds)", "per seed", "median training time per run (s)"]
    table = markdown_table(header, rows)
    settings = ", ".join(f"{key}={value}" for key, value in HYPERPARAMETERS["REINFORCE"].items())
    body = (
        f"{args.env_id}, {args.timesteps:,} env steps per run ({N_ENVS} envs), seeds {' '.join(map(str, args.seeds))}; "
        f"final return: mean over {args.eval_episodes} evaluation episodes (actions sampled from the policy) per "
        f"seed. Both algorithms use MinAtarCNN (3x3 conv with 16 channels, 128 units, shared by actor and critic); "
        f"REINFORCE: {settings}; A2C: SB3's defaults. Time limit: {args.max_episode_steps} steps. For scale: Young & "
        "Tian (2019) train their baselines for 5 million frames.\n\n"
        f"{table}\n\nLearning curve: {plot_path}"
    )
    text = write_report(args.output_dir, f"MinAtar: REINFORCE vs A2C on {args.env_id}", body, "examples.minatar_game", argv)
    write_example_record(args.output_dir, "examples.minatar_game", argv, run_config(args))
    print(text)
    return text


if __name__ == "__main__":
    main()

"""
Train REINFORCE on a gymnasium env, evaluate it and save it: the project's main job.

    python -m sb3_reinforce --env CartPole-v1 --conf-file zoo_configs/reinforce.yml
    python -m sb3_reinforce --env Acrobot-v1 --timesteps 500000 --n-envs 4    # REINFORCE's defaults

Hyperparameters come from the env's entry in an RL Zoo style file (``--conf-file``) or are REINFORCE's defaults.
"""

import argparse
import os
import time
from typing import Any, cast

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization

from sb3_reinforce.reinforce import REINFORCE

DEFAULT_TIMESTEPS = 100_000


def load_zoo_hyperparams(conf_file: str, env_id: str) -> dict[str, Any]:
    """
    The hyperparameters of ``env_id`` in an RL Zoo style YAML file: ``n_envs``, ``n_timesteps``, ``policy``,
    ``normalize`` and REINFORCE's arguments (see ``convert_zoo_values``). An env without an entry gets the file's
    ``default`` entry, as in rl_zoo3.
    """
    try:
        import yaml
    except ImportError as error:
        raise ImportError("reading a config file needs pyyaml: pip install 'sb3-reinforce[extra]'") from error
    with open(conf_file) as file:
        configs = yaml.safe_load(file)
    if env_id not in configs and "default" not in configs:
        raise ValueError(f"{conf_file} has no entry for {env_id} and no default entry: it has {', '.join(configs)}")
    return convert_zoo_values(configs[env_id if env_id in configs else "default"])


def convert_zoo_values(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    A copy of a zoo entry with its string values made objects, as RL Zoo does: ``policy_kwargs`` written as a Python
    expression, and ``"lin_<x>"`` learning rates or clip ranges (a linear schedule from ``x`` to 0).
    """
    hyperparams = dict(hyperparams)
    if isinstance(hyperparams.get("policy_kwargs"), str):
        hyperparams["policy_kwargs"] = eval(hyperparams["policy_kwargs"], {"th": th, "nn": th.nn, "dict": dict})
    for key in ("learning_rate", "clip_range"):
        if isinstance(hyperparams.get(key), str) and hyperparams[key].startswith("lin_"):
            hyperparams[key] = LinearSchedule(float(hyperparams[key][4:]), 0.0, 1.0)
    return hyperparams


def vec_normalize_kwargs(normalize: bool | str) -> dict[str, Any] | None:
    """
    ``VecNormalize``'s arguments for a zoo entry's ``normalize``: ``True`` (observations and rewards) or a
    ``dict(norm_obs=..., norm_reward=...)`` expression, as in RL Zoo; ``None`` when it is ``False``.
    """
    if isinstance(normalize, str):
        return eval(normalize, {"dict": dict})
    return {} if normalize else None


def make_envs(env_id: str, n_envs: int, seed: int, normalize: bool | str, gamma: float) -> tuple[VecEnv, VecEnv]:
    """
    The training envs and a one-env evaluation env; with ``normalize``, both are wrapped in ``VecNormalize`` and the
    evaluation env uses the training statistics (frozen) and sees raw rewards.
    """
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    eval_env = make_vec_env(env_id, n_envs=1, seed=seed + 10_000)
    kwargs = vec_normalize_kwargs(normalize)
    if kwargs is not None:
        env = VecNormalize(env, gamma=gamma, **kwargs)
        eval_env = VecNormalize(eval_env, **{**kwargs, "training": False, "norm_reward": False})
    return env, eval_env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sb3_reinforce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium env id (default: CartPole-v1)")
    parser.add_argument("--conf-file", help="RL Zoo style hyperparameter file (default: REINFORCE's defaults)")
    parser.add_argument("--timesteps", type=int, help=f"env steps (default: the config's, else {DEFAULT_TIMESTEPS})")
    parser.add_argument("--n-envs", type=int, help="parallel envs (default: the config's, else 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes of the final evaluation (default: 20)")
    parser.add_argument("--save-path", help="where to save the model (default: logs/reinforce_<env>.zip)")
    parser.add_argument("--no-progress-bar", action="store_true")
    args = parser.parse_args(argv)
    if args.conf_file is not None and not os.path.isfile(args.conf_file):
        parser.exit(2, f"{parser.prog}: error: --conf-file {args.conf_file}: no such file\n")  # one line, no traceback
    return args


def main(argv: list[str] | None = None) -> float:
    """Run the main job; return the mean evaluation return."""
    args = parse_args(argv)
    th.set_num_threads(1)  # small networks: more threads cost more than they bring
    hyperparams = load_zoo_hyperparams(args.conf_file, args.env) if args.conf_file else {}
    timesteps = args.timesteps or int(hyperparams.pop("n_timesteps", DEFAULT_TIMESTEPS))
    hyperparams.pop("n_timesteps", None)
    n_envs = args.n_envs or hyperparams.pop("n_envs", 1)
    hyperparams.pop("n_envs", None)
    policy = hyperparams.pop("policy", "MlpPolicy")
    normalize = hyperparams.pop("normalize", False)

    env, eval_env = make_envs(args.env, n_envs, args.seed, normalize, hyperparams.get("gamma", 0.99))
    model = REINFORCE(policy, env, seed=args.seed, device="cpu", **hyperparams)
    start = time.time()
    model.learn(timesteps, progress_bar=not args.no_progress_bar)
    train_seconds = time.time() - start

    save_path = args.save_path or os.path.join("logs", f"reinforce_{args.env}.zip")
    os.makedirs(os.path.dirname(save_path) or ".", exist_ok=True)
    model.save(save_path)
    if isinstance(env, VecNormalize):
        env.save(save_path.removesuffix(".zip") + "_vecnormalize.pkl")
        sync_envs_normalization(env, eval_env)
    mean_return, std_return = cast(  # floats (SB3 annotates its return with that of return_episode_rewards=True)
        tuple[float, float], evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    )
    print(f"Trained REINFORCE on {args.env} for {model.num_timesteps} env steps ({n_envs} envs) in {train_seconds:.0f} s")
    print(f"Evaluation return over {args.eval_episodes} episodes: {mean_return:.1f} +/- {std_return:.1f}")
    print(f"Model saved to {os.path.abspath(save_path)}" + (" (with its VecNormalize statistics)" if normalize else ""))
    return float(mean_return)


if __name__ == "__main__":
    main()

"""
Sample-efficiency sweep for the zoo_configs/reinforce.yml entries beyond CartPole-v1: env steps until the
deterministic policy's mean return over 10 evaluation episodes first reaches the env's threshold, per configuration
and seed (the run stops there; runs that never reach it report their last evaluation). Each env's group starts
from the CartPole entry and changes what the env needs.

    python benchmarks/zoo_sweep.py --env InvertedPendulum-v5 --seeds 0 1 2 --workers 2

Results are appended to benchmarks/results/zoo_sweep.csv (finished runs are skipped when re-run), the configuration
of each run to benchmarks/results/zoo_sweep.configs.json (``config_record``), and the table of the chosen env is
printed in markdown.
"""

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/
from cartpole_sweep import GROUPS as CARTPOLE_GROUPS
from common import run_sweep, steps_table, sweep_arguments, train_and_evaluate

from examples.records import record_queued, resolved_hyperparams

RESULTS = os.path.join(os.path.dirname(__file__), "results", "zoo_sweep.csv")
FIELDS = ["env", "config", "seed", "steps", "final_eval", "best_eval", "seconds"]

# The CartPole-v1 entry of zoo_configs/reinforce.yml, as cartpole_sweep.py measured it
BASE = CARTPOLE_GROUPS["final"]["f_4envs_n32_discard_lr3e-3"]


def cfg(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


SDE = dict(use_sde=True, policy_kwargs="dict(log_std_init=-2, ortho_init=False)")
SDE0 = dict(use_sde=True, sde_sample_freq=16, policy_kwargs="dict(log_std_init=0.0, ortho_init=False)")

# env -> (threshold, budget, evaluation period, {config name: hyperparameters})
ENVS: dict[str, tuple[float, int, int, dict[str, dict[str, Any]]]] = {
    "InvertedPendulum-v5": (
        950.0,
        200_000,
        5_000,
        {
            "base": cfg(),
            "lr1e-3": cfg(learning_rate=1e-3),
            "8envs": cfg(n_envs=8),
            "8envs_lr1e-3": cfg(n_envs=8, learning_rate=1e-3),
            "norm": cfg(normalize=True),
            "norm_sde": cfg(normalize=True, **SDE),
        },
    ),
    "Acrobot-v1": (
        -100.0,
        300_000,
        10_000,
        {
            "base": cfg(),
            "lr1e-3": cfg(learning_rate=1e-3),
            "8envs_lr1e-3": cfg(n_envs=8, learning_rate=1e-3),
            "lin3e-3": cfg(learning_rate="lin_3e-3"),
            "norm_lr1e-3": cfg(learning_rate=1e-3, normalize=True),
            "8envs_norm_lr1e-3": cfg(n_envs=8, learning_rate=1e-3, normalize=True),
        },
    ),
    # Sparse reward: -1 per step until the car reaches the flag, which random actions do not do in 200 steps
    "MountainCar-v0": (
        -110.0,
        100_000,
        10_000,
        {
            "base": cfg(),
            "norm_ent": cfg(normalize=True, ent_coef=0.01),
        },
    ),
    "LunarLander-v3": (
        200.0,
        500_000,
        25_000,
        {
            "8envs_lr1e-3": cfg(n_envs=8, learning_rate=1e-3),
            "8envs_lr1e-3_g999": cfg(n_envs=8, learning_rate=1e-3, gamma=0.999),
            "16envs_lr1e-3_g999": cfg(n_envs=16, learning_rate=1e-3, gamma=0.999),
            "16envs_lr3e-3_g999": cfg(n_envs=16, gamma=0.999),
        },
    ),
    "Pendulum-v1": (
        -200.0,
        300_000,
        10_000,
        {
            "sde_g9": cfg(gamma=0.9, learning_rate=1e-3, **SDE),
            "sde_g9_8envs": cfg(n_envs=8, gamma=0.9, learning_rate=1e-3, **SDE),
            "sde_g95_8envs": cfg(n_envs=8, gamma=0.95, learning_rate=1e-3, **SDE),
            "g9_8envs": cfg(n_envs=8, gamma=0.9, learning_rate=1e-3),
            "sde_g9_8envs_norm": cfg(n_envs=8, gamma=0.9, learning_rate=1e-3, normalize=True, **SDE),
            # 8 envs x 200-step episodes make one update per 1,600 steps: too few; one episode per update instead
            "1ep_sde_norm_lr3e-3": cfg(n_envs=1, n_steps=1, gamma=0.9, normalize=True, **SDE),
            "1ep_norm_lr3e-3": cfg(n_envs=1, n_steps=1, gamma=0.9, normalize=True),
            "1ep_sde_norm_lr1e-2": cfg(n_envs=1, n_steps=1, gamma=0.9, learning_rate=1e-2, normalize=True, **SDE),
        },
    ),
    "MountainCarContinuous-v0": (
        90.0,
        200_000,
        5_000,
        {
            "sde_norm": cfg(normalize=True, learning_rate=1e-3, gamma=0.9999, **SDE),
            "sde0_norm": cfg(normalize=True, learning_rate=1e-3, gamma=0.9999, **SDE0),
            "norm_std0": cfg(normalize=True, learning_rate=1e-3, gamma=0.9999),
            "sde0_norm_8envs": cfg(n_envs=8, normalize=True, learning_rate=1e-3, gamma=0.9999, **SDE0),
        },
    ),
}


def config_record(env_id: str, name: str) -> dict[str, Any] | None:
    """The configuration of a run of ``name`` on ``env_id`` as its record keeps it (examples/records.py); None if gone."""
    from sb3_reinforce import REINFORCE

    if name not in ENVS.get(env_id, (None, None, None, {}))[3]:
        return None
    threshold, budget, eval_freq, configs = ENVS[env_id]
    hyperparams = resolved_hyperparams(REINFORCE, configs[name])
    budget = int(configs[name].get("n_timesteps", budget))  # as run_sweep does
    return dict(env=env_id, hyperparams=hyperparams, budget=budget, eval_freq=eval_freq, threshold=threshold)


def run(env_id: str, name: str, config: dict[str, Any], seed: int, budget: int, eval_freq: int) -> dict[str, Any]:
    threshold = ENVS[env_id][0]
    result = train_and_evaluate(env_id, config, seed, budget, eval_freq, threshold, stop_at_threshold=True)
    return dict(
        env=env_id,
        config=f"{env_id}/{name}",
        seed=seed,
        **{key: "" if value is None else value for key, value in result.items()},
    )


def main() -> None:
    parser, args = sweep_arguments(__doc__, list(ENVS), seeds=[0, 1, 2])
    threshold, budget, eval_freq, configs = ENVS[args.env]
    if not args.report_only:
        queued = [
            (f"{args.env}/{name}", name, seed) for name in args.configs or configs if name in configs for seed in args.seeds
        ]
        record_queued(RESULTS, {(key, seed): config_record(args.env, name) for key, name, seed in queued}, "the run")
    rows = run_sweep(parser, args, configs, run, budget, eval_freq, RESULTS, FIELDS)
    print(f"{args.env}: budget {budget:,} env steps, evaluated every {eval_freq:,}, stop at {threshold:g}")
    print(steps_table(rows, threshold))


if __name__ == "__main__":
    main()

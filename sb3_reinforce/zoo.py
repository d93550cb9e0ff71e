"""
RL Baselines3 Zoo launcher: rl_zoo3's own commands, flags and files, with ``reinforce`` (REINFORCE) and
``reinforce_mask`` (MaskableREINFORCE, as rl_zoo3 names MaskablePPO ``ppo_mask``) registered beside its algorithms.

    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1 --conf-file zoo_configs/reinforce.yml
    python -m sb3_reinforce.zoo enjoy --algo reinforce --env CartPole-v1 -f logs/ --no-render
    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1 -optimize --n-trials 50 \\
        --storage logs/study.log --study-name reinforce-cartpole      # run it in several processes to share the study
        # across machines: --storage postgresql+psycopg://user:password@host/optuna (the postgres extra)
    sb3-reinforce-zoo record_video | plot_train | plot_from_file | all_plots ...

``train`` reads the project's ``zoo_configs/<algo>.yml`` (shipped in the package) unless ``--conf-file`` says
otherwise. Needs the ``zoo`` extra: ``pip install 'sb3-reinforce[zoo]'``.
"""

import importlib.resources
import os
import runpy
import socket
import sys
import time
from typing import Any


def _zoo_configs_dir() -> str:
    """
    The project's tuned hyperparameter files: ``sb3_reinforce/zoo_configs`` in a wheel install (the package data built
    from the top-level ``zoo_configs/``), else that top-level folder itself (a clone or an editable install).
    """
    packaged = importlib.resources.files("sb3_reinforce") / "zoo_configs"
    if packaged.is_dir():
        return str(packaged)
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo_configs")


# The default --conf-file of `train` is ZOO_CONFIGS/<algo>.yml
ZOO_CONFIGS = _zoo_configs_dir()

# rl_zoo3 names its commands' modules; each is run as its own ``python -m`` would
COMMANDS = {
    "train": "rl_zoo3.train",
    "enjoy": "rl_zoo3.enjoy",
    "record_video": "rl_zoo3.record_video",
    "record_training": "rl_zoo3.record_training",
    "plot_train": "rl_zoo3.plots.plot_train",
    "plot_from_file": "rl_zoo3.plots.plot_from_file",
    "all_plots": "rl_zoo3.plots.all_plots",
}


def sample_reinforce_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Optuna sampler of REINFORCE's hyperparameters (``-optimize``)."""
    params = {
        "n_steps": trial.suggest_categorical("n_steps", [1, 8, 32, 128, 512]),
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.0001, 0.1, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "baseline": trial.suggest_categorical("baseline", ["none", "mean", "value", "loo"]),
        "normalize_advantage": trial.suggest_categorical("normalize_advantage", [True, False]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.01, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["tiny", "small", "medium"]),
        "activation_fn": trial.suggest_categorical("activation_fn", ["tanh", "relu"]),
    }
    trial.set_user_attr("gamma", 1 - params["one_minus_gamma"])
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # which of the processes sharing the study
    return convert_reinforce_params(params)


def convert_reinforce_params(params: dict[str, Any]) -> dict[str, Any]:
    """Turn sampled (or ``--trial-id``-replayed) parameters into REINFORCE's arguments."""
    import torch as th

    hyperparams = dict(params)
    hyperparams["gamma"] = 1 - hyperparams.pop("one_minus_gamma")
    layers = {"tiny": [64], "small": [64, 64], "medium": [256, 256]}[hyperparams.pop("net_arch")]
    activation_fn = {"tanh": th.nn.Tanh, "relu": th.nn.ReLU}[hyperparams.pop("activation_fn")]
    hyperparams["policy_kwargs"] = dict(net_arch=dict(pi=layers, vf=layers), activation_fn=activation_fn)
    return hyperparams


def register() -> None:
    """
    Add REINFORCE and MaskableREINFORCE to rl_zoo3's tables of algorithms and samplers, and register
    ``InvalidActionDiscrete-v0`` (sb3-contrib's ``InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60)``, an env
    with ``action_masks()``) for ``reinforce_mask``.
    """
    import gymnasium as gym
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    from sb3_reinforce import REINFORCE, MaskableREINFORCE

    ALGOS.update(reinforce=REINFORCE, reinforce_mask=MaskableREINFORCE)
    HYPERPARAMS_SAMPLER.update(reinforce=sample_reinforce_params, reinforce_mask=sample_reinforce_params)
    HYPERPARAMS_CONVERTER.update(reinforce=convert_reinforce_params, reinforce_mask=convert_reinforce_params)
    if "InvalidActionDiscrete-v0" not in gym.registry:
        gym.register(
            "InvalidActionDiscrete-v0",
            entry_point="sb3_contrib.common.envs:InvalidActionEnvDiscrete",
            kwargs=dict(dim=80, n_invalid_actions=60),
        )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m sb3_reinforce.zoo {{{','.join(COMMANDS)}}} [rl_zoo3 flags]\n{__doc__}")
    conf_file = _option(argv, "--conf-file", "-conf")
    if conf_file is not None and conf_file.endswith((".yml", ".yaml", ".py")) and not os.path.isfile(conf_file):
        # one line, as argparse reports a bad argument, instead of rl_zoo3's FileNotFoundError traceback
        print(f"python -m sb3_reinforce.zoo {argv[0]}: error: --conf-file {conf_file}: no such file", file=sys.stderr)
        raise SystemExit(2)
    try:
        register()
    except ImportError as error:
        raise SystemExit(f"the zoo launcher needs rl_zoo3: pip install 'sb3-reinforce[zoo]' ({error})") from error
    storage = _option(argv, "--storage")
    if storage is not None and "://" in storage:  # a database URL (rl_zoo3 opens a *.log path as a journal file)
        create_study_tables(storage)
    argv = [*argv, *_default_conf_file(argv)]
    sys.argv = [f"sb3_reinforce.zoo {argv[0]}", *argv[1:]]
    runpy.run_module(COMMANDS[argv[0]], run_name="__main__", alter_sys=True)


def create_study_tables(url: str, attempts: int = 3) -> None:
    """
    Create Optuna's tables in the database at ``url`` unless they exist, before rl_zoo3 opens it. Workers started at
    once on a new database race to create them and all but one fail (PostgreSQL: a duplicate key on the type
    ``studydirection``); here a loser waits and tries again, and finds the tables made.
    """
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            optuna.storages.RDBStorage(url)
            return
        except ImportError as error:
            raise SystemExit(f"--storage: {error} (PostgreSQL: pip install 'sb3-reinforce[postgres]')") from error
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)


def _option(argv: list[str], *names: str) -> str | None:
    """The value of a ``train`` option (any of ``names``) written ``NAME X`` or ``NAME=X``; ``None`` when not given."""
    if argv[0] != "train":
        return None
    for arg, value in zip(argv, [*argv[1:], None], strict=True):
        if arg in names:
            return value
        if arg.startswith(tuple(f"{name}=" for name in names)):
            return arg.split("=", 1)[1]
    return None


def _default_conf_file(argv: list[str]) -> list[str]:
    """``--conf-file ZOO_CONFIGS/<algo>.yml`` for ``train`` with one of our algorithms, unless one is given."""
    if argv[0] != "train" or _option(argv, "--conf-file", "-conf") is not None or "--algo" not in argv:
        return []
    path = os.path.join(ZOO_CONFIGS, f"{argv[argv.index('--algo') + 1]}.yml")
    return ["--conf-file", path] if os.path.exists(path) else []


if __name__ == "__main__":
    main()

"""
RL Baselines3 Zoo launcher: rl_zoo3's own commands, flags and files, with ``reinforce`` (REINFORCE) and
``reinforce_mask`` (MaskableREINFORCE, as rl_zoo3 names MaskablePPO ``ppo_mask``) registered beside its algorithms.

    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1 --conf-file zoo_configs/reinforce.yml
    python -m sb3_reinforce.zoo enjoy --algo reinforce --env CartPole-v1 -f logs/ --no-render
    python -m sb3_reinforce.zoo train --algo reinforce --env CartPole-v1 -optimize --n-trials 50 \\
        --storage logs/study.log --study-name reinforce-cartpole      # run it in several processes to share the study
        # across machines: --storage postgresql+psycopg://user:password@host/optuna (the postgres extra)
    python -m sb3_reinforce.zoo record_training --algo reinforce --env CartPole-v1 -f logs/ --gif   # (needs ffmpeg)
    sb3-reinforce-zoo record_video | plot_train | plot_from_file | all_plots ...

``train`` reads the project's ``zoo_configs/<algo>.yml`` (shipped in the package) unless ``--conf-file`` (in any
spelling rl_zoo3's parser accepts) says otherwise; the rl_zoo3 commands that a command starts (``record_training``'s
``record_video``) run through this launcher too. Needs the ``zoo`` extra: ``pip install 'sb3-reinforce[zoo]'``.
"""

import argparse
import contextlib
import importlib.resources
import os
import runpy
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any
from unittest import mock

import numpy as np
from sb3_contrib.common.envs import InvalidActionEnvDiscrete


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
# and back: the command of an rl_zoo3 module that an rl_zoo3 command starts in a new process
LAUNCHED = {module: command for command, module in COMMANDS.items()}


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


def convert_reinforce_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Turn sampled (or ``--trial-id``-replayed) parameters into REINFORCE's arguments."""
    import torch as th

    hyperparams = dict(sampled_params)
    hyperparams["gamma"] = 1 - hyperparams.pop("one_minus_gamma")
    layers = {"tiny": [64], "small": [64, 64], "medium": [256, 256]}[hyperparams.pop("net_arch")]
    activation_fn = {"tanh": th.nn.Tanh, "relu": th.nn.ReLU}[hyperparams.pop("activation_fn")]
    hyperparams["policy_kwargs"] = dict(net_arch=dict(pi=layers, vf=layers), activation_fn=activation_fn)
    return hyperparams


def register() -> None:
    """
    Add REINFORCE and MaskableREINFORCE to rl_zoo3's tables of algorithms and samplers, and register
    ``InvalidActionDiscrete-v0`` (sb3-contrib's ``InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60)``, an env
    with ``action_masks()``, drawn for ``record_video``: ``FilmedInvalidActionEnv``) for ``reinforce_mask``.
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
            entry_point="sb3_reinforce.zoo:FilmedInvalidActionEnv",
            kwargs=dict(dim=80, n_invalid_actions=60),
        )


class FilmedInvalidActionEnv(InvalidActionEnvDiscrete):
    """
    sb3-contrib's ``InvalidActionEnvDiscrete`` that ``record_video`` and ``record_training`` can film
    (``render_mode="rgb_array"``): a row of cells, one per action, under a black band (where ``record_training``
    writes its caption). Above: the task of the last step (masked actions dark, valid ones light, the rewarded one
    green); below: the action taken (green when rewarded, red when not).

    :param dim: the number of actions (and of observations)
    :param n_invalid_actions: how many actions each step masks (never the rewarded one)
    :param render_mode: ``"rgb_array"`` or ``None``
    """

    # (a class attribute, as gymnasium reads it from the class: gym.make checks render_mode against it)
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}  # noqa: RUF012
    CELL_WIDTH, BAND_HEIGHT = 8, 32  # pixels

    def __init__(self, dim: int, n_invalid_actions: int, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        super().__init__(dim=dim, n_invalid_actions=n_invalid_actions)  # (calls reset)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        observation, info = super().reset(seed=seed, options=options)
        self.shown = self.state, self.invalid_actions
        self.last_action: int | None = None
        return observation, info

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self.shown, self.last_action = (self.state, self.invalid_actions), int(action)
        return super().step(action)

    # (SB3's IdentityEnv declares gym 0.21's render(mode) -> None, not gymnasium's render() -> frame)
    def render(self) -> np.ndarray:  # type: ignore[override]
        state, invalid_actions = self.shown
        bands = np.zeros((3, len(self.possible_actions), 3), dtype=np.uint8)  # caption, task, action
        bands[1] = 200
        bands[1, invalid_actions] = 60
        bands[1, state] = (0, 160, 0)
        if self.last_action is not None:
            bands[2, self.last_action] = (0, 160, 0) if self.last_action == state else (200, 0, 0)
        return bands.repeat(self.BAND_HEIGHT, axis=0).repeat(self.CELL_WIDTH, axis=1)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m sb3_reinforce.zoo {{{','.join(COMMANDS)}}} [rl_zoo3 flags]\n{__doc__}")
    try:
        register()
    except ImportError as error:
        raise SystemExit(f"the zoo launcher needs rl_zoo3: pip install 'sb3-reinforce[zoo]' ({error})") from error
    sys.argv = [f"sb3_reinforce.zoo {argv[0]}", *argv[1:]]
    with _launcher_hooks(argv[0]):
        runpy.run_module(COMMANDS[argv[0]], run_name="__main__", alter_sys=True)


@contextlib.contextmanager
def _launcher_hooks(command: str) -> Iterator[None]:
    """
    While rl_zoo3's ``command`` runs, in this process:

    - its arguments are read by its own argparse parser, so every spelling that parser accepts (``--conf-file X``,
      ``--conf-file=X``, ``-conf X``, the prefixes ``-c``, ``--conf``, ``--al`` of ``allow_abbrev``...) means the same
      here; the launcher then completes the parsed namespace (``_complete_train_args``) before rl_zoo3 reads it. The
      hook wraps ``argparse.ArgumentParser.parse_args`` and leaves every namespace without ``algo`` and ``conf_file``
      (a parser other than ``train``'s) as it was.
    - the rl_zoo3 commands it starts in new processes run through this launcher, with this interpreter, so that our
      algorithms are registered there too: ``record_training`` runs ``subprocess.call(["python", "-m",
      "rl_zoo3.record_video", ...])``, which would start whatever ``python`` is on the PATH, and in it a
      ``record_video`` that knows no ``reinforce``. ``subprocess.Popen`` (which ``call``, ``run`` and ``check_call``
      create) is replaced by ``_LauncherPopen``, which starts ``[any, "-m", "rl_zoo3.X", *flags]``, X one of
      ``COMMANDS``, as ``[sys.executable, "-m", "sb3_reinforce.zoo", X, *flags]`` and any other program unchanged.
      (rl_zoo3's other spawns are ``ffmpeg`` through ``os.system`` in ``record_training``, left alone, and ``python
      enjoy.py`` in ``rl_zoo3.benchmark``, which is not a command of this launcher.)
    """
    parse_args = argparse.ArgumentParser.parse_args

    def parse_and_complete(
        parser: argparse.ArgumentParser, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        return _complete_train_args(parse_args(parser, args, namespace), command)

    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", parse_and_complete),
        mock.patch.object(subprocess, "Popen", _LauncherPopen),
    ):
        yield


def _complete_train_args(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """
    ``train``'s parsed arguments as the launcher runs them: ``conf_file`` defaults to ``ZOO_CONFIGS/<algo>.yml`` for
    our algorithms; a ``.yml``/``.yaml``/``.py`` one that does not exist is one line of error (exit code 2, as argparse
    reports a bad argument) instead of rl_zoo3's FileNotFoundError traceback; a ``--storage`` database URL gets
    Optuna's tables first (``create_study_tables``; rl_zoo3 opens a ``*.log`` path as a journal file).
    """
    if not {"algo", "conf_file"} <= vars(args).keys():
        return args
    if args.conf_file is None:
        args.conf_file = default_conf_file(args.algo)
    elif args.conf_file.endswith((".yml", ".yaml", ".py")) and not os.path.isfile(args.conf_file):
        print(f"python -m sb3_reinforce.zoo {command}: error: --conf-file {args.conf_file}: no such file", file=sys.stderr)
        raise SystemExit(2)
    storage = getattr(args, "storage", None)
    if storage is not None and "://" in storage:
        create_study_tables(storage)
    return args


class _LauncherPopen(subprocess.Popen):
    """``subprocess.Popen`` that starts rl_zoo3's commands through this launcher (``_launcher_hooks``)."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        if isinstance(args, list | tuple) and len(args) >= 3 and args[1] == "-m" and args[2] in LAUNCHED:
            args = [sys.executable, "-m", "sb3_reinforce.zoo", LAUNCHED[args[2]], *args[3:]]
        super().__init__(args, *rest, **kwargs)


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


def default_conf_file(algo: str) -> str | None:
    """The default ``--conf-file`` of ``train --algo algo``: ``ZOO_CONFIGS/<algo>.yml`` where there is one."""
    path = os.path.join(ZOO_CONFIGS, f"{algo}.yml")
    return path if os.path.exists(path) else None


if __name__ == "__main__":
    main()

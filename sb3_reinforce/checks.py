"""
The checks that REINFORCE makes before it trains: its hyperparameters, its policy class, and the finiteness of what a
rollout brings in. Each raises a ``ValueError`` that names the parameter (or the env and step) and what is allowed.
"""

from typing import TYPE_CHECKING, Any

import numpy as np
import sb3_contrib
import stable_baselines3
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule

if TYPE_CHECKING:
    from sb3_reinforce.reinforce import REINFORCE

BASELINES = ("none", "mean", "value", "loo")
ROLLOUT_MODES = ("discard", "carry", "bootstrap")
ADVANTAGE_SCALINGS = (True, False, "batch", "group", "none")
KL_PENALTIES = ("reward", "loss")


def check_finite(what: str, array: np.ndarray, step: int | None = None) -> None:
    """
    Raise a ``ValueError`` naming the first non-finite value of ``array`` (an env step's values, one row per env, or a
    rollout's, (steps, n_envs, ...)), its env and its step, before anything is trained on it. ``step``: the env step of
    a single step's values (``None``: ``array`` is a rollout). Integer arrays (images) are always finite.
    """
    if array.dtype.kind != "f" or np.isfinite(array).all():  # the common case: one vectorized pass
        return
    index = np.unravel_index(np.flatnonzero(~np.isfinite(array))[0], array.shape)
    where = f"env {index[0]} at env step {step}" if step is not None else f"env {index[1]} at step {index[0]} of the rollout"
    raise ValueError(f"non-finite {what} ({array[index]}) from {where}: training stopped before the parameters changed")


def check_hyperparameters(
    learning_rate: float | Schedule,
    n_steps: int,
    gamma: float,
    baseline: str,
    rollout_mode: str,
    max_completion_steps: int | None,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float | None,
    vf_learning_rate: float | Schedule,
    n_value_epochs: int,
    value_batch_size: int | None,
    target_kl: float | None,
    rollout_buffer_class: type[RolloutBuffer] | None,
    normalize_advantage: bool | str = True,
    kl_coef: float = 0.0,
    kl_penalty: str = "reward",
    value_warmup_steps: int = 0,
) -> None:
    """Raise a ``ValueError`` naming the first bad hyperparameter and what is allowed."""
    for name, rate in (("learning_rate", learning_rate), ("vf_learning_rate", vf_learning_rate)):
        if not callable(rate) and not (is_number(rate) and rate > 0):
            raise ValueError(f"{name} must be a positive number or a schedule (callable), got {rate!r}")
    check_int("n_steps", n_steps, 1)
    if not is_number(gamma) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    if rollout_mode not in ROLLOUT_MODES:
        raise ValueError(f"rollout_mode must be one of {ROLLOUT_MODES}, got {rollout_mode!r}")
    if rollout_mode == "bootstrap" and baseline != "value":
        raise ValueError(
            f"rollout_mode='bootstrap' bootstraps cut returns with the learned value, so it needs baseline='value' "
            f"(got baseline={baseline!r}); use rollout_mode='carry' or 'discard' for exact Monte Carlo returns"
        )
    if max_completion_steps is not None and (not is_int(max_completion_steps) or max_completion_steps < 1):
        raise ValueError(f"max_completion_steps must be None or an integer >= 1, got {max_completion_steps!r}")
    for name, value in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
        if not is_number(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if max_grad_norm is not None and (not is_number(max_grad_norm) or max_grad_norm <= 0):
        raise ValueError(f"max_grad_norm must be None (no clipping) or a number > 0, got {max_grad_norm!r}")
    check_int("n_value_epochs", n_value_epochs, 0, " (0: no value fit)")
    if value_batch_size is not None:
        check_int("value_batch_size", value_batch_size, 1, " or None (the whole rollout)")
    if target_kl is not None and (not is_number(target_kl) or target_kl <= 0):
        raise ValueError(f"target_kl must be None (no step-size safeguard) or a number > 0, got {target_kl!r}")
    check_fine_tuning(normalize_advantage, kl_coef, kl_penalty, value_warmup_steps, baseline, n_value_epochs)
    if rollout_buffer_class is not None and not (
        isinstance(rollout_buffer_class, type) and issubclass(rollout_buffer_class, RolloutBuffer)
    ):
        raise ValueError(
            "rollout_buffer_class must be None or a subclass of stable_baselines3's RolloutBuffer or DictRolloutBuffer "
            f"(with sb3-contrib's maskable buffers for MaskableREINFORCE), got {rollout_buffer_class!r}"
        )


def check_fine_tuning(
    normalize_advantage: bool | str,
    kl_coef: float,
    kl_penalty: str,
    value_warmup_steps: int,
    baseline: str,
    n_value_epochs: int,
) -> None:
    """The checks of the advantage scaling, the KL penalty and the value warm-up (see ``check_hyperparameters``)."""
    if not (
        isinstance(normalize_advantage, bool)
        or (isinstance(normalize_advantage, str) and normalize_advantage in ADVANTAGE_SCALINGS)
    ):
        raise ValueError(f"normalize_advantage must be one of {ADVANTAGE_SCALINGS}, got {normalize_advantage!r}")
    if not is_number(kl_coef) or kl_coef < 0:
        raise ValueError(f"kl_coef must be a number >= 0 (0: no KL penalty), got {kl_coef!r}")
    if kl_penalty not in KL_PENALTIES:
        raise ValueError(f"kl_penalty must be one of {KL_PENALTIES}, got {kl_penalty!r}")
    check_int("value_warmup_steps", value_warmup_steps, 0, " (0: no warm-up)")
    if value_warmup_steps > 0 and (baseline != "value" or n_value_epochs < 1):
        raise ValueError(
            f"value_warmup_steps={value_warmup_steps} fits the value baseline only, so it needs baseline='value' and "
            f"n_value_epochs >= 1 (got baseline={baseline!r}, n_value_epochs={n_value_epochs!r})"
        )


def check_int(name: str, value: Any, minimum: int, note: str = "") -> None:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{note}, got {value!r}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and np.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_policy_class(policy: str | type[BasePolicy], algorithm: type["REINFORCE"]) -> None:
    """
    Raise a ``ValueError`` when ``policy`` (a class given to the constructor, or the one that ``load()`` read from a file)
    does not subclass ``algorithm.policy_base`` or is recurrent (REINFORCE keeps no LSTM states). The message names the
    algorithms whose policy it is: a saved file does not name the algorithm that saved it, its policy class tells.
    Aliases such as ``"MlpPolicy"`` are left to SB3.
    """
    if isinstance(policy, str):
        return
    recurrent = isinstance(policy, type) and issubclass(policy, RecurrentActorCriticPolicy)
    if isinstance(policy, type) and issubclass(policy, algorithm.policy_base) and not recurrent:
        return
    owners = " or ".join(_algorithms_with_policy(policy))
    found = f" (the policy of {owners}: a file saved by {owners} holds it)" if owners else ""
    needed = f"a subclass of {algorithm.policy_base.__name__}" + (" that is not recurrent" if recurrent else "")
    raise ValueError(f"policy class {getattr(policy, '__name__', policy)}{found}: {algorithm.__name__} needs {needed}")


def _algorithms_with_policy(policy: Any) -> list[str]:
    """The SB3 and sb3-contrib algorithms that list ``policy`` (or its nearest base class) among their policies."""
    algorithms = [
        value
        for package in (stable_baselines3, sb3_contrib)
        for value in vars(package).values()
        if isinstance(value, type) and issubclass(value, BaseAlgorithm)
    ]
    for base in getattr(policy, "__mro__", ()):
        names = [algorithm.__name__ for algorithm in algorithms if base in algorithm.policy_aliases.values()]
        if names:
            return names
    return []

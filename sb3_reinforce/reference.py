"""
The reference policy of the KL penalty (``kl_coef``): a frozen copy of the model's own policy, of another policy, or of
the policy in a saved model's file.
"""

import io
import pathlib
from typing import Any, cast

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_zip_file

ReferenceSource = BasePolicy | BaseAlgorithm | str | pathlib.Path | io.BufferedIOBase | None


def frozen_copy(policy: BasePolicy) -> BasePolicy:
    """
    A copy of ``policy`` in evaluation mode whose parameters take no gradient: built from its constructor parameters
    and its state dict, as SB3's ``BasePolicy.save`` / ``load`` do (a deep copy would also copy tensors that a features
    extractor keeps from its last forward pass, which torch cannot copy, and the optimizer's state).
    """
    module = cast(BasePolicy, getattr(policy, "_orig_mod", policy))  # th.compile's wrapper holds the policy there
    reference = type(module)(**module._get_constructor_parameters())
    reference.load_state_dict(module.state_dict())
    reference = reference.to(module.device)
    reference.set_training_mode(False)
    reference.requires_grad_(False)
    return reference


def reference_policy(source: ReferenceSource, policy: BasePolicy, device: th.device) -> BasePolicy:
    """
    A frozen reference for ``policy`` from ``source``: ``None``, ``policy`` itself as it is now; a policy or a model
    (its ``policy``) with the same observation and action spaces; or the path of a saved model (REINFORCE, A2C, PPO, ...)
    whose policy has ``policy``'s architecture.
    """
    if source is None:
        return frozen_copy(policy)
    if isinstance(source, BaseAlgorithm):
        source = source.policy
    if isinstance(source, BasePolicy):
        for name in ("observation_space", "action_space"):
            if getattr(source, name) != getattr(policy, name):
                raise ValueError(f"reference: its {name} {getattr(source, name)} is not the model's {getattr(policy, name)}")
        return frozen_copy(source).to(device)
    if not isinstance(source, (str, pathlib.Path, io.BufferedIOBase)):
        raise ValueError(f"reference must be None, a policy, a model or the path of a saved model, got {source!r}")
    _, params, _ = load_from_zip_file(source, device=device, load_data=False)
    if "policy" not in params:
        raise ValueError(f"reference: {source} holds no policy")
    reference = frozen_copy(policy)
    try:
        reference.load_state_dict(cast(dict[str, Any], params["policy"]))
    except RuntimeError as error:
        raise ValueError(f"reference: the policy in {source} does not have the model's architecture: {error}") from None
    return reference


def reference_log_prob(reference: BasePolicy, observations: Any, actions: th.Tensor, **kwargs: Any) -> th.Tensor:
    """``log pi_ref(a | s)`` of a batch, without gradient (``kwargs``: the distribution's, e.g. action masks)."""
    with th.no_grad():
        distribution = cast(Any, reference).get_distribution(observations, **kwargs)  # ActorCriticPolicy or maskable
        return distribution.log_prob(actions)

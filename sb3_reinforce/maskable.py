from typing import Any, ClassVar, TypeVar, cast

import numpy as np
from gymnasium import spaces
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from sb3_contrib.common.maskable.policies import (
    MaskableActorCriticCnnPolicy,
    MaskableActorCriticPolicy,
    MaskableMultiInputActorCriticPolicy,
)
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.buffers import MaskableDictReinforceRolloutBuffer, MaskableReinforceRolloutBuffer, episode_buffer_class
from sb3_reinforce.reinforce import REINFORCE

SelfMaskableREINFORCE = TypeVar("SelfMaskableREINFORCE", bound="MaskableREINFORCE")


class MaskableREINFORCE(REINFORCE):
    """
    REINFORCE with invalid action masking, on sb3-contrib's maskable policies and buffers: the same returns,
    baselines, rollout modes, hyperparameters and update as ``REINFORCE``, with the log-probabilities of the masked
    distribution (masked actions get neither probability nor gradient).

    Masks come from the env as in ``MaskablePPO``: an ``action_masks()`` method (or sb3-contrib's ``ActionMasker``
    wrapper), read through ``get_action_masks`` at every step; ``learn(..., use_masking=True)`` and
    ``predict(obs, action_masks=...)`` behave as in ``MaskablePPO``. Supports ``Discrete``, ``MultiDiscrete`` and
    ``MultiBinary`` actions.

    The parameters are those of :class:`sb3_reinforce.REINFORCE`, except that ``rollout_buffer_class`` must subclass
    sb3-contrib's ``MaskableRolloutBuffer`` or ``MaskableDictRolloutBuffer``, which store the masks, as ``MaskablePPO``
    asks (even when ``learn(..., use_masking=False)``: the masks are then all True). ``MaskableREINFORCE.load`` takes
    ``MaskablePPO`` files, as ``REINFORCE.load`` takes ``PPO`` files.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MaskableActorCriticPolicy,
        "CnnPolicy": MaskableActorCriticCnnPolicy,
        "MultiInputPolicy": MaskableMultiInputActorCriticPolicy,
    }
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (
        spaces.Discrete,
        spaces.MultiDiscrete,
        spaces.MultiBinary,
    )
    policy_base: ClassVar[type[BasePolicy]] = MaskableActorCriticPolicy
    policy: MaskableActorCriticPolicy  # type: ignore[assignment]  # as MaskablePPO: not a subclass of ActorCriticPolicy
    use_masking = True  # set by learn()

    def _setup_model(self) -> None:
        # As OnPolicyAlgorithm._setup_model, but sb3-contrib's maskable policies take no ``use_sde`` (discrete actions)
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = MaskableDictReinforceRolloutBuffer if dict_obs else MaskableReinforceRolloutBuffer
        _check_stores_masks(self.rollout_buffer_class)
        # A maskable buffer with the mixin, which the declared type stands for (mypy has no intersection types)
        self.rollout_buffer = episode_buffer_class(self.rollout_buffer_class)(  # type: ignore[assignment]
            self.n_steps,
            self.observation_space,
            self.action_space,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
            **self.rollout_buffer_kwargs,
        )
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        )
        self.policy = self.policy.to(self.device)  # a MaskableActorCriticPolicy: __init__ checked policy_base
        self._setup_value_fit()

    def _step_inputs(self, env: VecEnv) -> dict[str, Any]:
        if not self.use_masking:
            return {}
        action_masks = get_action_masks(env)
        _check_masks(action_masks, self.action_space)
        return {"action_masks": action_masks}

    def _distribution_kwargs(self, action_masks: Any) -> dict[str, Any]:
        return {"action_masks": action_masks} if self.use_masking else {}

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Get the policy action from an observation, with invalid actions masked out when ``action_masks`` is given.

        :param observation: the input observation
        :param state: The last hidden states (unused, for API compatibility)
        :param episode_start: The last episode starts (unused, for API compatibility)
        :param deterministic: Whether or not to return deterministic actions.
        :param action_masks: Masks of the valid actions (True: allowed), one row per observation
        :return: the model's action and the next hidden state
        """
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def learn(  # type: ignore[override]
        self: SelfMaskableREINFORCE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "MaskableREINFORCE",
        reset_num_timesteps: bool = True,
        use_masking: bool = True,
        progress_bar: bool = False,
    ) -> SelfMaskableREINFORCE:
        """
        :param use_masking: Whether to mask invalid actions with the env's ``action_masks()`` during training
        """
        if use_masking and self.env is not None and not is_masking_supported(self.env):
            raise ValueError(
                "use_masking=True needs an env with an action_masks() method: wrap it with "
                "sb3_contrib.common.wrappers.ActionMasker(env, mask_fn), or pass use_masking=False"
            )
        self.use_masking = use_masking
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)


def _check_masks(action_masks: np.ndarray, action_space: spaces.Space) -> None:
    """Raise a ``ValueError`` naming the env whose mask allows no action at all (for some sub-action)."""
    if isinstance(action_space, spaces.Discrete):
        sizes = [int(action_space.n)]
    elif isinstance(action_space, spaces.MultiDiscrete):
        sizes = [int(n) for n in action_space.nvec.ravel()]
    else:  # MultiBinary: one mask per outcome (0 or 1) of each binary action
        sizes = [2] * int(np.prod(cast(spaces.MultiBinary, action_space).n))
    masks = np.asarray(action_masks, dtype=bool).reshape(len(action_masks), sum(sizes))
    offset = 0
    for index, size in enumerate(sizes):
        empty = ~masks[:, offset : offset + size].any(axis=1)
        offset += size
        if empty.any():
            which = f" for sub-action {index}" if len(sizes) > 1 else ""
            raise ValueError(
                f"the action mask of env {int(np.flatnonzero(empty)[0])} allows no action{which}: "
                "every state needs at least one valid action"
            )


def _check_stores_masks(buffer_class: type) -> None:
    """Raise a ``ValueError`` unless ``buffer_class`` is one of sb3-contrib's maskable rollout buffers (or a subclass)."""
    if not issubclass(buffer_class, (MaskableRolloutBuffer, MaskableDictRolloutBuffer)):
        raise ValueError(
            "rollout_buffer_class must subclass sb3-contrib's MaskableRolloutBuffer or MaskableDictRolloutBuffer "
            f"for MaskableREINFORCE (they store the action masks), got {buffer_class.__name__}"
        )

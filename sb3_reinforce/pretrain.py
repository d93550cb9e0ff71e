"""
Supervised pretraining of a policy before REINFORCE fine-tunes it: behaviour cloning from an expert's demonstrations,
or maximum likelihood on a corpus of sequences (the same thing: the log-likelihood of given actions in given states).

    expert_obs, expert_actions, _ = collect_demonstrations(expert, env, n_episodes=10)
    model = REINFORCE("MlpPolicy", env, kl_coef=0.05, value_warmup_steps=20_000)
    pretrain_policy(model.policy, expert_obs, expert_actions, n_epochs=50)
    model.learn(1_000_000)  # the reference of the KL penalty is the cloned policy; the value is fitted to it first
"""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_reinforce.checks import check_int, is_number


def collect_demonstrations(
    model: BaseAlgorithm, env: VecEnv, n_episodes: int, deterministic: bool = True
) -> tuple[Any, np.ndarray, np.ndarray]:
    """
    The observations and actions of ``n_episodes`` complete episodes of ``model`` (an expert) on ``env``.

    The observations are the ones the policy sees (normalized where ``env`` is a ``VecNormalize``: a student trained on
    them must see the same normalization). Episodes still running when the last one ends are left out.

    :param model: The expert: anything with SB3's ``predict``
    :param env: A VecEnv (a gymnasium env is wrapped in a ``DummyVecEnv``)
    :param n_episodes: Number of complete episodes
    :param deterministic: Whether the expert acts deterministically
    :return: observations (an array, or a dict of arrays), actions (as the env takes them) and each episode's return
    """
    check_int("n_episodes", n_episodes, 1)
    env = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
    running: list[list[tuple[Any, np.ndarray]]] = [[] for _ in range(env.num_envs)]
    kept: list[tuple[Any, np.ndarray]] = []
    returns: list[float] = []
    scores = np.zeros(env.num_envs)
    observation = env.reset()
    while len(returns) < n_episodes:
        actions, _ = model.predict(observation, deterministic=deterministic)  # type: ignore[arg-type]
        next_observation, rewards, dones, _ = env.step(actions)
        scores += np.asarray(env.get_original_reward() if hasattr(env, "get_original_reward") else rewards)
        for i in range(env.num_envs):
            obs_i = {key: value[i] for key, value in observation.items()} if isinstance(observation, dict) else observation[i]
            running[i].append((obs_i, actions[i]))
            if dones[i] and len(returns) < n_episodes:
                kept.extend(running[i])
                returns.append(float(scores[i]))
            if dones[i]:
                running[i], scores[i] = [], 0.0
        observation = next_observation
    observations = [step[0] for step in kept]
    if isinstance(observations[0], dict):
        stacked: Any = {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    else:
        stacked = np.stack(observations)
    return stacked, np.stack([step[1] for step in kept]), np.array(returns)


def pretrain_policy(
    policy: BasePolicy,
    observations: Any,
    actions: np.ndarray,
    n_epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    action_masks: np.ndarray | None = None,
    seed: int | None = None,
) -> list[float]:
    """
    Maximum likelihood of ``actions`` in ``observations`` for the actor of ``policy`` (an SB3 ``ActorCriticPolicy`` or a
    maskable one): minibatch Adam on ``-log pi(a|s)``, its own optimizer (the policy's is left as it is). The value head
    is not trained: fit it to the pretrained policy's returns with ``REINFORCE(..., value_warmup_steps=...)``.

    :param policy: The policy to train, e.g. ``model.policy``
    :param observations: (N, ...) observations (or a dict of them), as the policy sees them
    :param actions: (N, ...) actions
    :param n_epochs: Passes over the data
    :param batch_size: Minibatch size
    :param learning_rate: Adam's step size
    :param action_masks: (N, n_actions) masks for a maskable policy (``None``: no masking)
    :param seed: Seed of the minibatch order (``None``: torch's global generator)
    :return: The mean negative log-likelihood of each epoch
    """
    check_int("n_epochs", n_epochs, 1)
    check_int("batch_size", batch_size, 1)
    if not is_number(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
    n_samples = len(actions)
    lengths = [len(value) for value in observations.values()] if isinstance(observations, dict) else [len(observations)]
    if n_samples == 0 or any(length != n_samples for length in lengths):
        raise ValueError(f"observations ({lengths}) and actions ({n_samples}) must hold the same number (> 0) of samples")
    device = policy.device
    obs = obs_as_tensor(observations, device)
    targets = th.as_tensor(np.asarray(actions), device=device)
    targets = targets.long().flatten() if isinstance(policy.action_space, spaces.Discrete) else targets.float()
    masks = None if action_masks is None else th.as_tensor(np.asarray(action_masks), device=device)
    optimizer = th.optim.Adam(policy.parameters(), lr=learning_rate)
    generator = None if seed is None else th.Generator(device=device).manual_seed(seed)
    policy.set_training_mode(True)
    losses = []
    for _ in range(n_epochs):
        epoch = []
        for indices in th.randperm(n_samples, device=device, generator=generator).split(batch_size):
            kwargs = {} if masks is None else {"action_masks": masks[indices].cpu().numpy()}
            batch = {key: value[indices] for key, value in obs.items()} if isinstance(obs, dict) else obs[indices]
            distribution = policy.get_distribution(batch, **kwargs)  # type: ignore[operator]
            loss = -distribution.log_prob(targets[indices]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch.append(loss.item())
        losses.append(float(np.mean(epoch)))
    policy.set_training_mode(False)
    return losses

"""Groups of episodes that start from the same state (several samples per prompt), for ``baseline="loo"`` (RLOO)."""

import os
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv


class SharedStarts(gym.Wrapper):
    """
    Make the envs of one group start their n-th episodes from the same state, and name that group in the episode's last
    ``info["group"]`` (``(group, n)``), which ``REINFORCE(baseline="loo")`` reads.

    Every reset (the VecEnv's automatic ones included) seeds the env with a seed drawn from (base seed, ``group``, n),
    so the start state (a prompt, an initial position) is the same across the group as long as the env's ``reset`` is
    deterministic given its seed, as Gymnasium asks. An explicit ``reset(seed=s)``, as SB3's ``VecEnv.seed(s)`` makes it
    (env ``rank`` gets ``s + rank``), sets the base seed to ``s - rank`` and restarts the count, so all the envs of a
    VecEnv share one base whatever their rank.

    :param env: The env to wrap
    :param group: The group this env belongs to
    :param rank: The env's index in its VecEnv
    :param seed: The base seed until an explicit ``reset(seed=...)``
    """

    def __init__(self, env: gym.Env, group: int, rank: int, seed: int = 0):
        super().__init__(env)
        self.group, self.rank = group, rank
        self._base_seed, self._n_episodes = seed, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._base_seed, self._n_episodes = seed - self.rank, 0
        else:
            self._n_episodes += 1
        entropy = [self._base_seed % 2**32, self.group, self._n_episodes]
        episode_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        return self.env.reset(seed=episode_seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info["group"] = (self.group, self._n_episodes)
        return observation, reward, terminated, truncated, info


def make_grouped_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_groups: int,
    group_size: int,
    seed: int = 0,
    vec_env_cls: type[DummyVecEnv | SubprocVecEnv] = DummyVecEnv,
    env_kwargs: dict[str, Any] | None = None,
    monitor_dir: str | None = None,
) -> VecEnv:
    """
    ``n_groups * group_size`` envs, each in a ``Monitor`` as ``make_vec_env`` makes them, where each block of
    ``group_size`` consecutive envs is a group: its envs start their n-th episodes from the same state
    (:class:`SharedStarts`). With ``REINFORCE(..., baseline="loo", n_steps=1)`` each update then sees ``group_size``
    episodes from each of ``n_groups`` start states, and each episode's baseline is the mean return of the other
    episodes of its group: RLOO (Kool et al., 2019; Ahmadian et al., 2024).

    :param env_id: An env id or a function returning an env, as for ``make_vec_env``
    :param n_groups: The number of groups (start states per update)
    :param group_size: The number of envs (samples) per group, at least 2 for a leave-one-out baseline
    :param seed: The base seed of the start states (``VecEnv.seed`` changes it)
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``
    :param env_kwargs: Keyword arguments of the env's constructor
    :param monitor_dir: Where the ``Monitor`` files go (``None``: not written)
    :return: The VecEnv
    """
    for name, value, minimum in (("n_groups", n_groups, 1), ("group_size", group_size, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    kwargs = env_kwargs or {}

    def make_env(rank: int) -> Callable[[], gym.Env]:
        def thunk() -> gym.Env:
            env = gym.make(env_id, **kwargs) if isinstance(env_id, str) else env_id(**kwargs)
            env.action_space.seed(seed + rank)
            path = None if monitor_dir is None else os.path.join(monitor_dir, str(rank))
            return SharedStarts(Monitor(env, filename=path), group=rank // group_size, rank=rank, seed=seed)

        return thunk

    if monitor_dir is not None:
        os.makedirs(monitor_dir, exist_ok=True)
    vec_env = vec_env_cls([make_env(rank) for rank in range(n_groups * group_size)])
    vec_env.seed(seed)
    return vec_env


def episode_group_codes(groups: np.ndarray, episode_starts: np.ndarray) -> np.ndarray:
    """
    Integer codes, time-major like the buffer, of each transition's episode group: the ``info["group"]`` recorded at the
    episode's last step in the rollout (``None`` where there was none). Equal groups get equal codes.
    """
    starts = episode_starts.T > 0  # env-major: each env's transitions in order
    starts[:, 0] = True  # an env's first transition begins its first episode in the rollout
    flat_starts = starts.ravel()
    episode = np.cumsum(flat_starts) - 1
    last_steps = np.append(np.flatnonzero(flat_starts)[1:] - 1, flat_starts.size - 1)
    codes: dict[Any, int] = {}
    try:
        episode_codes = np.array([codes.setdefault(group, len(codes)) for group in groups.T.ravel()[last_steps]])
    except TypeError as error:
        raise ValueError(f"info['group'] must be hashable (it names an episode's group for baseline='loo'): {error}") from None
    return episode_codes[episode].reshape(starts.shape).T

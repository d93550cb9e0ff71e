"""Small gymnasium envs shared by several test files."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class OffsetEnv(gym.Env):
    """Observations ``offset + scale * N(0, 1)`` far from zero and rewards ``reward_offset + action``: both change
    visibly under VecNormalize. Episodes are truncated after 8 steps."""

    def __init__(self, dim: int = 2, offset: float = 100.0, scale: float = 1.0, reward_offset: float = 5.0):
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.dim, self.offset, self.scale, self.reward_offset = dim, offset, scale, reward_offset

    def _obs(self) -> np.ndarray:
        return (self.offset + self.scale * self.np_random.normal(size=self.dim)).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return self._obs(), {}

    def step(self, action):
        self.step_count += 1
        return self._obs(), self.reward_offset + float(action), False, self.step_count >= 8, {}

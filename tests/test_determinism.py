import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE


class TargetEnv(gym.Env):
    """
    Reach a random target; all randomness comes from the env's seeded ``np_random`` (SB3's IdentityEnv samples
    its states from an unseeded action space, so it is not reproducible). Episodes of random length,
    terminated or truncated, so that the rollouts have different lengths and steps are carried over.
    """

    def __init__(self, continuous: bool):
        self.observation_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32) if continuous else spaces.Discrete(4)

    def _obs(self):
        self.target = self.np_random.uniform(-1, 1, size=2).astype(np.float32)
        return self.target

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.length = int(self.np_random.integers(3, 9))
        self.step_count = 0
        return self._obs(), {}

    def step(self, action):
        if isinstance(self.action_space, spaces.Discrete):
            action = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]][int(action)]) / 2
        reward = -float(np.abs(self.target - action).sum())
        self.step_count += 1
        terminated = self.step_count >= self.length
        truncated = not terminated and bool(self.np_random.random() < 0.1)
        return self._obs(), reward, terminated, truncated, {}


def train(continuous: bool, seed: int, **kwargs) -> dict[str, th.Tensor]:
    env = make_vec_env(TargetEnv, n_envs=2, env_kwargs=dict(continuous=continuous))
    model = REINFORCE("MlpPolicy", env, n_steps=5, seed=seed, device="cpu", **kwargs)
    model.learn(total_timesteps=150)
    return model.policy.state_dict()


@pytest.mark.parametrize(
    "options",
    [dict(baseline="mean", rollout_mode="carry"), dict(baseline="value", rollout_mode="bootstrap")],
    ids=["carry", "bootstrap"],
)
@pytest.mark.parametrize("continuous", [False, True], ids=["Discrete", "Box"])
def test_same_seed_same_parameters(continuous, options):
    params = train(continuous, seed=3, **options)
    same_seed = train(continuous, seed=3, **options)
    other_seed = train(continuous, seed=4, **options)
    for name in params:
        assert th.equal(params[name], same_seed[name]), name
    assert any(not th.equal(params[name], other_seed[name]) for name in params)

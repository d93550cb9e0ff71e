import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer
from stable_baselines3.common.envs import IdentityEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.buffers import ReinforceRolloutBuffer


@pytest.mark.parametrize(
    "name,value",
    [
        ("gamma", -0.1),
        ("gamma", 1.5),
        ("gamma", float("nan")),
        ("n_steps", 0),
        ("n_steps", -1),
        ("n_steps", 2.5),
        ("n_steps", True),
        ("baseline", "critic"),
        ("baseline", None),
        ("rollout_mode", "truncate"),
        ("learning_rate", 0),
        ("learning_rate", -1e-3),
        ("learning_rate", float("inf")),
        ("ent_coef", -0.01),
        ("vf_coef", -0.5),
        ("max_grad_norm", 0),
        ("max_grad_norm", -1.0),
        ("max_completion_steps", 0),
        ("max_completion_steps", -5),
        ("max_completion_steps", 10.5),
        ("rollout_buffer_class", ReplayBuffer),
        ("rollout_buffer_class", dict),
        ("rollout_buffer_class", "RolloutBuffer"),
        ("rollout_buffer_class", RolloutBuffer(8, spaces.Discrete(2), spaces.Discrete(2))),
    ],
)
def test_bad_hyperparameter(name, value):
    with pytest.raises(ValueError, match=name):
        REINFORCE("MlpPolicy", IdentityEnv(dim=2), **{name: value})


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_bootstrap_needs_value_baseline(baseline):
    with pytest.raises(ValueError, match=r"bootstrap.*baseline"):
        REINFORCE("MlpPolicy", IdentityEnv(dim=2), baseline=baseline, rollout_mode="bootstrap")


def test_errors_raised_before_setup():
    """The check happens at construction, before any env is touched or network built."""
    with pytest.raises(ValueError, match="gamma"):
        REINFORCE("MlpPolicy", "NotARegisteredEnv-v0", gamma=2.0)


def test_valid_edge_values():
    """The limits of the allowed ranges are accepted."""
    env = IdentityEnv(dim=2)
    for gamma in (0.0, 1.0):
        assert REINFORCE("MlpPolicy", env, gamma=gamma).gamma == gamma
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=1,
        ent_coef=0.0,
        vf_coef=0.0,
        max_grad_norm=None,
        max_completion_steps=1,
        learning_rate=lambda progress_remaining: 1e-3 * progress_remaining,
        rollout_buffer_class=ReinforceRolloutBuffer,
    )
    assert isinstance(model.rollout_buffer, ReinforceRolloutBuffer)


class TupleActionEnv(gym.Env):
    def __init__(self):
        self.observation_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def test_unsupported_action_space():
    with pytest.raises(ValueError, match="action space"):
        REINFORCE("MlpPolicy", TupleActionEnv())

"""
SB3's own expectations of an on-policy algorithm, as its test suite states them (``tests/test_save_load.py``,
``tests/test_gae.py``): ``set_parameters(exact_match=True)`` catches a missing or extra object, and a policy whose
``forward()`` is overridden (or compiled) is the one that acts.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy

from sb3_reinforce import REINFORCE


def test_exact_match_catches_a_missing_or_an_extra_object():
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=8, seed=0)
    params = model.get_parameters()
    missing = dict(params)
    del missing[list(missing)[-1]]  # as SB3's test_save_load: the last object (here the value optimizer) left out
    with pytest.raises(ValueError, match="do not match"):
        model.set_parameters(missing, exact_match=True)
    with pytest.raises(ValueError, match="invalid object name"):
        model.set_parameters({**params, "unknown": {}}, exact_match=True)
    model.set_parameters(missing, exact_match=False)  # what exact_match=False is for


def test_files_without_a_value_optimizer_still_load(tmp_path):
    A2C("MlpPolicy", "CartPole-v1", n_steps=8, seed=0).save(tmp_path / "a2c")
    loaded = REINFORCE.load(tmp_path / "a2c")
    assert not loaded.value_optimizer.state_dict()["state"]  # a fresh one
    with pytest.raises(ValueError, match="do not match"):  # a direct call still asks for every object
        loaded.set_parameters(str(tmp_path / "a2c.zip"), exact_match=True)


class LastStepRewardEnv(gym.Env):
    """SB3's ``CustomEnv`` of test_gae: random observations, reward 1 at the last of ``max_steps`` steps."""

    def __init__(self, max_steps: int = 64):
        super().__init__()
        self.observation_space = spaces.Box(low=-1, high=1, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(low=-1, high=1, shape=(2,), dtype=np.float32)
        self.max_steps, self.n_steps = max_steps, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.n_steps = 0
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.n_steps += 1
        done = self.n_steps >= self.max_steps
        return self.observation_space.sample(), float(done), done, False, {}


class ConstantValuePolicy(ActorCriticPolicy):
    """SB3's ``CustomPolicy`` of test_gae: ``forward()`` returns a constant value."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.constant_value = 0.0

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)
        return actions, th.ones_like(values) * self.constant_value, log_prob


class CheckAdvantages(BaseCallback):
    """At the end of each rollout: the buffer's returns are the Monte Carlo returns and its advantages those minus the
    policy's constant value (SB3's CheckGAECallback with gae_lambda=1)."""

    model: REINFORCE

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    def _on_rollout_end(self) -> None:
        assert isinstance(self.model.policy, ConstantValuePolicy)
        buffer, max_steps = self.model.rollout_buffer, self.training_env.get_attr("max_steps")[0]
        steps_to_go = max_steps - 1 - np.arange(buffer.pos) % max_steps
        returns = self.model.gamma**steps_to_go
        np.testing.assert_allclose(buffer.returns[: buffer.pos, 0], returns, rtol=1e-5)
        np.testing.assert_allclose(buffer.advantages[: buffer.pos, 0], returns - self.model.policy.constant_value, rtol=1e-5)
        np.testing.assert_allclose(buffer.values[: buffer.pos, 0], self.model.policy.constant_value)
        self.checked += 1

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize("gamma", [1.0, 0.99])
@pytest.mark.parametrize("num_episodes", [1, 3])
def test_an_overridden_forward_gives_the_values(gamma, num_episodes):
    rollout_size = 64 * num_episodes
    model = REINFORCE(ConstantValuePolicy, LastStepRewardEnv(max_steps=64), seed=1, gamma=gamma, n_steps=rollout_size)
    callback = CheckAdvantages()
    model.learn(rollout_size, callback=callback)
    model.policy.constant_value = 1.0  # advantages != returns from here on
    model.learn(rollout_size, callback=callback)
    assert callback.checked == 2


class OffsetPolicy(ActorCriticPolicy):
    """Adds a known offset to the actions it samples, and remembers what it sampled."""

    offset = 0.25

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sampled: list[np.ndarray] = []

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)
        self.sampled.append(actions.cpu().numpy().copy())
        return actions + self.offset, values, log_prob


def test_an_overridden_forward_chooses_the_actions():
    env = LastStepRewardEnv(max_steps=16)
    env.action_space = spaces.Box(low=-100, high=100, shape=(2,), dtype=np.float32)  # no clipping in the way
    model = REINFORCE(OffsetPolicy, env, seed=0, n_steps=16)
    model.learn(16)
    buffer = model.rollout_buffer
    sampled = np.concatenate(model.policy.sampled)
    assert len(sampled) == buffer.pos == 16
    stored = buffer.actions[: buffer.pos].reshape(-1, 2)  # train() has flattened the buffer (one env)
    np.testing.assert_allclose(stored, sampled.reshape(-1, 2) + OffsetPolicy.offset, rtol=1e-6)


def test_a_compiled_policy_runs_compiled():
    graphs = []

    def counting_backend(graph_module: th.fx.GraphModule, example_inputs: list[th.Tensor]) -> Any:
        graphs.append(graph_module)
        return graph_module.forward  # run the captured graph as it is (no code generation: fast)

    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=32, seed=0)
    model.policy = th.compile(model.policy, backend=counting_backend)
    model.learn(64)
    assert graphs, "the compiled forward pass was never run"
    assert model.num_timesteps >= 64

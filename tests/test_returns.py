from functools import partial

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.returns import discounted_returns


def reference_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_{k=t}^{end(t)} gamma^(k-t) r_k, end(t) the first episode end at or after t (or the last step)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim == 1:
        return reference_returns(rewards[:, None], np.asarray(episode_ends)[:, None], gamma)[:, 0]
    n_steps, n_envs = rewards.shape
    returns = np.zeros((n_steps, n_envs))
    for env in range(n_envs):
        for t in range(n_steps):
            total, discount = 0.0, 1.0
            for k in range(t, n_steps):
                total += discount * float(rewards[k, env])
                if episode_ends[k, env]:
                    break
                discount *= gamma
            returns[t, env] = total
    return returns


def backward_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """The same as ``reference_returns`` by the backward recursion, O(T) for long 1D sequences."""
    returns = np.zeros(len(rewards))
    next_return = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if episode_ends[t]:
            next_return = 0.0
        next_return = float(rewards[t]) + gamma * next_return
        returns[t] = next_return
    return returns


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("shape", [(37,), (23, 1), (41, 3)])
def test_discounted_returns_match_reference(gamma, shape):
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=shape) * 3
    episode_ends = rng.random(size=shape) < 0.2
    returns = discounted_returns(rewards, episode_ends, gamma)
    assert returns.shape == shape
    assert returns.dtype == np.float64
    np.testing.assert_allclose(returns, reference_returns(rewards, episode_ends, gamma), rtol=1e-10, atol=1e-10)


def test_discounted_returns_known_values():
    rewards = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 2.0]])
    ends = np.array([[False, False], [True, False], [False, True], [False, False]])
    expected = np.array([[1.0 + 0.5 * 2.0, 0.0 + 0.5 * 1.0], [2.0, 1.0], [3.0 + 0.5 * 4.0, 0.0], [4.0, 2.0]])
    # The last step is not flagged as an episode end: the data ends there all the same (its return is its reward)
    np.testing.assert_allclose(discounted_returns(rewards, ends, 0.5), expected)
    # The envs are independent of their order
    np.testing.assert_allclose(discounted_returns(rewards[:, ::-1], ends[:, ::-1], 0.5), expected[:, ::-1])


def test_envs_are_independent():
    """The returns of one env never leak into another's (the envs are laid end to end internally)."""
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(50, 4))
    ends = np.zeros((50, 4), dtype=bool)  # no episode end: each env's returns must stop at its last step
    returns = discounted_returns(rewards, ends, 0.9)
    for env in range(4):
        np.testing.assert_allclose(returns[:, env], discounted_returns(rewards[:, env], ends[:, env], 0.9), rtol=1e-12)


def test_inputs_are_not_modified():
    rewards = np.arange(12, dtype=np.float32).reshape(6, 2)
    ends = np.zeros((6, 2), dtype=bool)
    ends[2] = True
    rewards_copy, ends_copy = rewards.copy(), ends.copy()
    discounted_returns(rewards, ends, 0.9)
    np.testing.assert_array_equal(rewards, rewards_copy)
    np.testing.assert_array_equal(ends, ends_copy)


@pytest.mark.parametrize("shape", [(0,), (0, 2)])
def test_empty_sequence(shape):
    returns = discounted_returns(np.zeros(shape), np.zeros(shape, dtype=bool), 0.9)
    assert returns.shape == shape


@pytest.mark.parametrize("gamma", [0.1, 0.99])
@pytest.mark.parametrize("end_probability", [0.0, 1e-3, 0.1])
def test_long_sequence(gamma, end_probability):
    """Long enough for several internal blocks; rare episode ends make episodes run across block boundaries."""
    n_steps = 100_000
    rng = np.random.default_rng(2)
    rewards = rng.normal(size=(n_steps, 2)) + 1.0
    ends = rng.random(size=(n_steps, 2)) < end_probability
    returns = discounted_returns(rewards, ends, gamma)
    for env in range(2):
        expected = backward_returns(rewards[:, env], ends[:, env], gamma)
        np.testing.assert_allclose(returns[:, env], expected, rtol=1e-9, atol=1e-9)


def test_tiny_gamma():
    """gamma so small that every internal block is a single step."""
    rewards = np.array([1.0, 2.0, 3.0, 4.0])
    ends = np.zeros(4, dtype=bool)
    np.testing.assert_allclose(discounted_returns(rewards, ends, 1e-200), rewards, rtol=1e-12)
    np.testing.assert_allclose(discounted_returns(rewards, ends, 1e-100), rewards + np.array([2e-100, 3e-100, 4e-100, 0]))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        discounted_returns(np.zeros((5, 2)), np.zeros((5, 3), dtype=bool), 0.9)
    with pytest.raises(ValueError, match="same shape"):
        discounted_returns(np.zeros(5), np.zeros((5, 1), dtype=bool), 0.9)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(np.zeros(5), np.zeros(5, dtype=bool), gamma)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_steps=st.integers(min_value=1, max_value=40),
    n_envs=st.integers(min_value=0, max_value=3),
    gamma=st.one_of(st.sampled_from([0.0, 0.5, 0.99, 1.0]), st.floats(min_value=0.0, max_value=1.0)),
)
def test_discounted_returns_property(data, n_steps, n_envs, gamma):
    shape = (n_steps,) if n_envs == 0 else (n_steps, n_envs)
    rewards = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(min_value=-100, max_value=100)))
    ends = data.draw(hnp.arrays(np.bool_, shape))
    returns = discounted_returns(rewards, ends, gamma)
    assert returns.shape == shape
    np.testing.assert_allclose(returns, reference_returns(rewards, ends, gamma), rtol=1e-9, atol=1e-9)


class ScheduledEnv(gym.Env):
    """
    Rewards and episode ends read from a fixed random schedule, whatever the actions. The observation is the
    index ``t`` of the next step in the schedule (it is not reset by ``reset()``), so every transition in a
    rollout buffer can be traced back to the schedule; with ``dict_obs``, it is the "t" entry of a Dict.
    """

    def __init__(
        self,
        seed: int,
        length: int = 5000,
        max_episode_length: int = 25,
        end_probability: float = 0.1,
        dict_obs: bool = False,
    ):
        rng = np.random.default_rng(seed)
        self.rewards = rng.normal(size=length).astype(np.float32)
        ends = rng.random(length) < end_probability
        since_end = 0
        for t in range(length):  # cap the episode length
            since_end += 1
            if since_end == max_episode_length:
                ends[t] = True
            if ends[t]:
                since_end = 0
        self.terminated = ends & (rng.random(length) < 0.5)
        self.truncated = ends & ~self.terminated
        self.observation_space = spaces.Box(0, length, shape=(1,), dtype=np.float32)
        if dict_obs:
            self.observation_space = spaces.Dict({"t": self.observation_space, "parity": spaces.Discrete(2)})
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def _obs(self):
        obs = np.array([self.t], dtype=np.float32)
        if isinstance(self.observation_space, spaces.Dict):
            return {"t": obs, "parity": self.t % 2}
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        t = self.t
        self.t += 1
        return self._obs(), float(self.rewards[t]), bool(self.terminated[t]), bool(self.truncated[t]), {}

    def episode_return(self, t: int, gamma: float) -> float:
        """Brute-force discounted return from step t to the end of its episode (terminated or truncated)."""
        total, discount = 0.0, 1.0
        for k in range(t, len(self.rewards)):
            total += discount * float(self.rewards[k])
            if self.terminated[k] or self.truncated[k]:
                return total
            discount *= gamma
        raise AssertionError("the schedule ended inside an episode")


def make_scheduled_vec_env(n_envs: int, **kwargs) -> DummyVecEnv:
    return DummyVecEnv([partial(ScheduledEnv, seed, **kwargs) for seed in range(n_envs)])


class RecordRollouts(BaseCallback):
    """Keep a copy of the rollout buffer at the end of each rollout (returns computed, before the update)."""

    model: REINFORCE

    def __init__(self):
        super().__init__()
        self.rollouts = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        rows = buffer.pos
        observations = buffer.observations["t"] if isinstance(buffer.observations, dict) else buffer.observations
        if isinstance(buffer.observations, dict):
            np.testing.assert_array_equal(buffer.observations["parity"][:rows, :, 0], observations[:rows, :, 0] % 2)
        self.rollouts.append(
            {
                "steps": observations[:rows, :, 0].round().astype(int),
                "returns": buffer.returns[:rows].copy(),
                "valid": buffer.valid[:rows].copy(),
                "length": self.model.logger.name_to_value["rollout/length"],
                "n_carried": buffer.n_carried,
            }
        )


@pytest.mark.parametrize("rollout_mode", ["carry", "discard"])
@pytest.mark.parametrize("n_envs,dict_obs", [(2, False), (3, False), (3, True)])
def test_rollout_returns_reach_episode_end(rollout_mode, n_envs, dict_obs):
    """
    Without a value baseline the returns in the buffer are the exact discounted returns to the real episode
    end (truncations included, not bootstrapped), never cut by the rollout boundary.
    """
    gamma, n_steps = 0.9, 8
    env = make_scheduled_vec_env(n_envs, dict_obs=dict_obs)
    schedules = env.envs
    recorder = RecordRollouts()
    model = REINFORCE(
        "MultiInputPolicy" if dict_obs else "MlpPolicy",
        env,
        n_steps=n_steps,
        gamma=gamma,
        baseline="none",
        rollout_mode=rollout_mode,
        max_completion_steps=100,
    )
    model.learn(total_timesteps=10 * n_steps * n_envs, callback=recorder)
    assert len(recorder.rollouts) >= 4
    check_rollouts(recorder.rollouts, schedules, gamma, n_steps, rollout_mode)


def test_carried_steps_across_learn_calls():
    """
    learn(reset_num_timesteps=False) goes on with the steps kept by the last rollout of the previous call;
    learn(reset_num_timesteps=True) resets the envs and drops them.
    """
    gamma, n_steps = 0.9, 8
    env = make_scheduled_vec_env(2)
    recorder = RecordRollouts()
    model = REINFORCE("MlpPolicy", env, n_steps=n_steps, gamma=gamma, baseline="none", rollout_mode="carry")
    model.learn(total_timesteps=4 * n_steps * 2, callback=recorder)
    assert recorder.rollouts[-1]["n_carried"] > 0
    n_rollouts = len(recorder.rollouts)
    model.learn(total_timesteps=4 * n_steps * 2, callback=recorder, reset_num_timesteps=False)
    assert len(recorder.rollouts) > n_rollouts
    check_rollouts(recorder.rollouts, env.envs, gamma, n_steps, "carry")

    assert recorder.rollouts[-1]["n_carried"] > 0
    next_steps = [schedule.t for schedule in env.envs]
    recorder.rollouts.clear()
    model.learn(total_timesteps=4 * n_steps * 2, callback=recorder)
    np.testing.assert_array_equal(recorder.rollouts[0]["steps"][0], next_steps)


def check_rollouts(rollouts: list[dict], schedules: list[ScheduledEnv], gamma: float, n_steps: int, rollout_mode: str):
    """Check the returns of the steps used, and which steps were used, against the envs' schedules."""
    n_envs = len(schedules)
    used: list[list[int]] = [[] for _ in range(n_envs)]
    for rollout in rollouts:
        steps, valid = rollout["steps"], rollout["valid"]
        assert rollout["length"] >= n_steps
        assert valid.sum(axis=0).min() >= n_steps
        for env_idx, schedule in enumerate(schedules):
            env_steps = steps[valid[:, env_idx], env_idx]
            expected = [schedule.episode_return(t, gamma) for t in env_steps]
            np.testing.assert_allclose(rollout["returns"][valid[:, env_idx], env_idx], expected, rtol=1e-5, atol=1e-5)
            # The used steps are consecutive and end with the end of an episode
            np.testing.assert_array_equal(np.diff(env_steps), 1)
            assert schedule.terminated[env_steps[-1]] or schedule.truncated[env_steps[-1]]
            used[env_idx].extend(env_steps)
        # The rollout stopped as soon as every env's episode had ended: the last step ended one of them
        last = steps[-1]
        assert any(schedules[i].terminated[last[i]] or schedules[i].truncated[last[i]] for i in range(n_envs))
        if rollout_mode == "discard":
            assert rollout["n_carried"] == 0

    for env_idx in range(n_envs):
        assert len(used[env_idx]) == len(set(used[env_idx])), "a step was used by two updates"
        if rollout_mode == "carry":
            # No step is lost: every step up to the last one used was used (exactly once)
            assert sorted(used[env_idx]) == list(range(max(used[env_idx]) + 1))
    if rollout_mode == "carry":
        assert any(rollout["n_carried"] > 0 for rollout in rollouts)
    else:
        # The steps of the envs that finished first were dropped
        assert any(sorted(steps) != list(range(max(steps) + 1)) for steps in used)


def predicted_values(model: REINFORCE, steps) -> np.ndarray:
    obs = th.as_tensor(np.asarray(steps, dtype=np.float32).reshape(-1, 1))
    with th.no_grad():
        return model.policy.predict_values(obs).flatten().numpy()


@pytest.mark.parametrize("rollout_mode", ["bootstrap", "carry"])
def test_rollout_returns_bootstrapped_with_value(rollout_mode):
    """
    With baseline="value", truncated episodes are continued with gamma * V(terminal obs), and in bootstrap mode the
    episodes cut by the end of the rollout are continued with gamma * V(next obs).
    """
    gamma, n_steps, n_envs = 0.9, 16, 2
    env = make_scheduled_vec_env(n_envs)
    schedules = env.envs
    model = REINFORCE(
        "MlpPolicy", env, n_steps=n_steps, gamma=gamma, baseline="value", rollout_mode=rollout_mode, max_completion_steps=100
    )
    _, callback = model._setup_learn(1000, None)
    buffer = model.rollout_buffer
    for _ in range(2):
        assert model.collect_rollouts(model.env, callback, buffer, n_steps)
        rows = buffer.pos
        steps = buffer.observations[:rows, :, 0].round().astype(int)
        value_fn = lambda t: float(predicted_values(model, [t])[0])  # noqa: E731
        assert np.abs(predicted_values(model, steps.ravel())).max() > 1e-3  # the bootstrap is not trivially zero
        if rollout_mode == "bootstrap":
            assert rows == n_steps
            assert buffer.valid[:rows].all()
        for env_idx, schedule in enumerate(schedules):
            valid = buffer.valid[:rows, env_idx]
            env_steps = steps[valid, env_idx]
            expected = []
            for t in env_steps:
                # Returns inside the rollout, continued by gamma^k V(s_last + 1) where the rollout cut the episode
                total, discount = 0.0, 1.0
                for k in range(t, env_steps[-1] + 1):
                    total += discount * float(schedule.rewards[k])
                    if schedule.truncated[k]:
                        total += discount * gamma * value_fn(k + 1)
                    if schedule.terminated[k] or schedule.truncated[k]:
                        break
                    discount *= gamma
                else:
                    assert rollout_mode == "bootstrap"
                    assert model._last_obs[env_idx, 0] == env_steps[-1] + 1
                    total += discount * value_fn(env_steps[-1] + 1)
                expected.append(total)
            np.testing.assert_allclose(buffer.returns[:rows][valid, env_idx], expected, rtol=1e-5, atol=1e-5)
        if rollout_mode == "bootstrap":
            # At least one env was cut by the rollout, so the bootstrap of the last row is exercised
            last = steps[-1]
            assert not all(schedules[i].terminated[last[i]] or schedules[i].truncated[last[i]] for i in range(n_envs))


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_returns_cut_by_max_completion_steps(baseline):
    """Episodes still running after max_completion_steps end there as if truncated: bootstrapped only with "value"."""
    gamma, n_steps, max_completion_steps = 0.9, 4, 6
    env = make_scheduled_vec_env(2, max_episode_length=10_000, end_probability=0.0)
    schedules = env.envs
    model = REINFORCE(
        "MlpPolicy", env, n_steps=n_steps, gamma=gamma, baseline=baseline, max_completion_steps=max_completion_steps
    )
    _, callback = model._setup_learn(1000, None)
    buffer = model.rollout_buffer
    with pytest.warns(UserWarning, match="2 episode"):
        assert model.collect_rollouts(model.env, callback, buffer, n_steps)
    rows = buffer.pos
    assert rows == n_steps + max_completion_steps
    assert buffer.valid[:rows].all()
    steps = buffer.observations[:rows, :, 0].round().astype(int)
    for env_idx, schedule in enumerate(schedules):
        np.testing.assert_array_equal(steps[:, env_idx], np.arange(rows))
        next_value = predicted_values(model, [rows])[0] if baseline == "value" else 0.0
        assert baseline == "none" or abs(next_value) > 1e-3
        expected = backward_returns(schedule.rewards[:rows], np.zeros(rows, dtype=bool), gamma)
        expected += gamma ** np.arange(rows, 0, -1) * next_value
        np.testing.assert_allclose(buffer.returns[:rows, env_idx], expected, rtol=1e-5, atol=1e-5)

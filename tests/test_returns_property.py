"""
Property test of the returns and weights that ``train()`` consumes, on the real rollout path: ``learn()`` drives a
scripted env whose rewards, terminations and truncations come from hypothesis data, over several envs and rollouts, and
every transition of every update is checked against a brute-force recomputation from the raw transitions.
"""

import warnings

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE

RUN, TERMINATED, TRUNCATED = 0, 1, 2


class ScriptedEnv(gym.Env):
    """
    Cycles through a script of (reward, end) steps whatever the actions. The observation is (t, env index), t the
    absolute step count (never reset), so each transition of a batch can be traced back to the script. If ``grouped``,
    episodes end with ``info["group"]`` = env index % 2 (for ``baseline="loo"``).
    """

    def __init__(self, script: list[tuple[float, int]], index: int, grouped: bool = False):
        self.script, self.index, self.t, self.grouped = script, index, 0, grouped
        self.observation_space = spaces.Box(0, 1e6, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.index], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        reward, end = self.script[self.t % len(self.script)]
        self.t += 1
        return (
            self._obs(),
            reward,
            end == TERMINATED,
            end == TRUNCATED,
            {"group": self.index % 2} if end and self.grouped else {},
        )


def script_strategy(max_length: int = 12) -> st.SearchStrategy:
    step = st.tuples(st.floats(-10, 10, width=32), st.sampled_from([RUN, RUN, RUN, TERMINATED, TRUNCATED]))
    # The last step always ends an episode: no episode is longer than the script
    return st.lists(step, min_size=1, max_size=max_length).map(lambda s: [*s[:-1], (s[-1][0], s[-1][1] or TERMINATED)])


@st.composite
def settings_strategy(draw):
    rollout_mode = draw(st.sampled_from(["discard", "carry", "bootstrap"]))
    baseline = "value" if rollout_mode == "bootstrap" else draw(st.sampled_from(["none", "mean", "value", "loo"]))
    return dict(
        n_steps=draw(st.integers(1, 6)),
        gamma=draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1)),
        baseline=baseline,
        normalize_advantage=draw(st.booleans()),
        rollout_mode=rollout_mode,
        max_completion_steps=draw(st.sampled_from([None, 2, 5])),
    )


def brute_force(model: REINFORCE, scripts: list, steps: np.ndarray, envs: np.ndarray, last_steps: dict) -> np.ndarray:
    """Discounted return of each transition to its episode's end, bootstrapped with V where the model does so."""
    gamma = model.gamma

    def value(t: int, env: int) -> float:
        if model.baseline != "value":
            return 0.0  # no value baseline: a cut or truncated return simply ends
        with th.no_grad():
            return model.policy.predict_values(th.tensor([[t, env]], dtype=th.float32)).item()

    returns = []
    for t, env in zip(steps, envs, strict=True):
        total, discount, k = 0.0, 1.0, t
        while True:
            reward, end = scripts[env][k % len(scripts[env])]
            total += discount * reward
            if end == TERMINATED:
                break
            if end == TRUNCATED or k == last_steps[env]:  # time limit, or the rollout's last step: bootstrap
                total += discount * gamma * value(k + 1, env)
                break
            discount *= gamma
            k += 1
        returns.append(total)
    return np.array(returns)


def leave_one_out(scripts: list, steps: np.ndarray, envs: np.ndarray, returns: np.ndarray, grouped: bool) -> np.ndarray:
    """
    Brute force: the mean return of the other episodes of the batch at the same step of their episode, among those of
    the same group (if ``grouped``, env index % 2 for an episode that ended in the batch, None for one the rollout cut).
    """
    episode_start, index = [], []
    for t, env in zip(steps, envs, strict=True):
        start = t
        while start > 0 and scripts[env][(start - 1) % len(scripts[env])][1] == RUN:
            start -= 1
        episode_start.append(start)
        index.append(t - start)
    episode = list(zip(envs, episode_start, strict=True))
    last = {key: max(t for t, k in zip(steps, episode, strict=True) if k == key) for key in set(episode)}
    ended = {key: scripts[key[0]][last[key] % len(scripts[key[0]])][1] != RUN for key in last}
    group = {key: key[0] % 2 if grouped and ended[key] else None for key in last}
    baseline = []
    for i, key in enumerate(episode):
        others = [
            returns[j]
            for j, other in enumerate(episode)
            if other != key and group[other] == group[key] and index[j] == index[i]
        ]
        baseline.append(np.mean(others) if others else 0.0)
    return np.array(baseline)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts=st.lists(script_strategy(), min_size=1, max_size=3), hyperparams=settings_strategy(), grouped=st.booleans())
def test_train_consumes_exact_returns_and_weights(scripts, hyperparams, grouped):
    env = DummyVecEnv([lambda i=i, s=script: ScriptedEnv(s, i, grouped) for i, script in enumerate(scripts)])
    # vf_coef=0 and no value fit: V stays what we query
    model = REINFORCE("MlpPolicy", env, vf_coef=0.0, n_value_epochs=0, seed=0, **hyperparams)
    batches, consumed = [], []
    get, policy_weights = model.rollout_buffer.get, model._policy_weights
    model.rollout_buffer.get = lambda *args: (batches.append(batch) or batch for batch in get(*args))

    def record(advantages):
        weights = policy_weights(advantages)
        consumed.append((batches[-1].returns.numpy().copy(), weights.detach().numpy().copy()))
        return weights

    model._policy_weights = record
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # episodes cut by max_completion_steps warn
        model.learn(total_timesteps=40 * len(scripts))
    assert len(consumed) >= 2

    for batch, (returns, weights) in zip(batches, consumed, strict=True):
        steps, envs = batch.observations[:, 0].numpy().astype(int), batch.observations[:, 1].numpy().astype(int)
        last_steps = {env: steps[envs == env].max() for env in np.unique(envs)}
        expected = brute_force(model, scripts, steps, envs, last_steps)
        np.testing.assert_allclose(returns, expected, rtol=1e-5, atol=1e-4)

        if model.baseline == "value":
            with th.no_grad():
                expected = expected - model.policy.predict_values(batch.observations).flatten().numpy()
        elif model.baseline == "mean":
            expected = expected - expected.mean()
        elif model.baseline == "loo":
            expected = expected - leave_one_out(scripts, steps, envs, expected, grouped)
        if model.normalize_advantage and len(expected) > 1:
            # Standardizing nearly equal weights magnifies float32 rounding by 1/std: compare before the division
            scale = expected.std(ddof=1) + 1e-8
            np.testing.assert_allclose(weights * scale, expected - expected.mean(), rtol=1e-5, atol=1e-4)
        else:
            np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-4)

"""
What callbacks see in ``on_rollout_end`` and what ``train()`` reads: the buffer's fields mean what SB3's mean (returns
with the time-limit bootstrap, ``values`` the baseline used, ``advantages = returns - values`` before standardization,
``log_probs`` the behaviour policy's), and non-finite numbers stop training before any parameter changes.
"""

from functools import partial

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from test_returns_property import RUN, TERMINATED, ScriptedEnv

EPISODE = 64


class EndRewardEnv(gym.Env):
    """Reward 1 at the last step of ``EPISODE``-step episodes, 0 before; observations are the step count."""

    def __init__(self, bad: tuple[str, int] | None = None, reward: float = 1.0, every_step: bool = False):
        self.observation_space = spaces.Box(0, EPISODE, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.bad, self.reward, self.every_step, self.total_steps = bad, reward, every_step, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        self.total_steps += 1
        obs = np.array([self.t], dtype=np.float32)
        reward = self.reward if self.t == EPISODE or self.every_step else 0.0
        if self.bad is not None and self.total_steps == self.bad[1]:
            obs[0], reward = (np.nan, reward) if self.bad[0] == "observation" else (obs[0], np.inf)
        return obs, reward, self.t == EPISODE, False, {}


class Snapshot(BaseCallback):
    """The buffer's fields as ``on_rollout_end`` sees them, with the policy's log-probabilities at that moment."""

    model: REINFORCE

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if hasattr(self, "fields"):
            return
        buffer = self.model.rollout_buffer
        rows = slice(0, buffer.pos)
        self.fields = {name: getattr(buffer, name)[rows].copy() for name in ("returns", "values", "advantages", "log_probs")}
        observations = th.as_tensor(buffer.observations[rows].reshape(-1, 1))
        actions = th.as_tensor(buffer.actions[rows].reshape(-1)).long()
        with th.no_grad():
            self.expected_log_probs = self.model.policy.get_distribution(observations).log_prob(actions).numpy()


@pytest.mark.parametrize("baseline", ["value", "mean", "none", "loo"])
@pytest.mark.parametrize("gamma", [1.0, 0.99])
@pytest.mark.parametrize("episodes", [1, 3])
def test_fields_mean_what_sb3_means(baseline, gamma, episodes):
    model = REINFORCE(
        "MlpPolicy", DummyVecEnv([EndRewardEnv]), n_steps=episodes * EPISODE, gamma=gamma, baseline=baseline, seed=0
    )
    with th.no_grad():  # a value head that outputs 1.0 everywhere
        model.policy.value_net.weight.zero_()
        model.policy.value_net.bias.fill_(1.0)
    snapshot = Snapshot()
    model.learn(episodes * EPISODE, callback=snapshot)
    fields = snapshot.fields
    assert fields["returns"].shape == (episodes * EPISODE, 1)
    expected_returns = np.tile(gamma ** np.arange(EPISODE - 1, -1, -1), episodes)[:, None]
    np.testing.assert_allclose(fields["returns"], expected_returns, rtol=1e-6)
    # "loo": each episode's baseline is the others' return at the same step: the same episode, so all the returns
    expected_loo = expected_returns if episodes > 1 else 0.0  # a lone episode has no other: 0
    expected_values = {"value": 1.0, "mean": expected_returns.mean(), "none": 0.0, "loo": expected_loo}[baseline]
    np.testing.assert_allclose(fields["values"], expected_values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fields["advantages"], expected_returns - expected_values, rtol=1e-5, atol=1e-6)
    if gamma == 1.0 and baseline != "none" and (baseline, episodes) != ("loo", 1):
        np.testing.assert_allclose(fields["advantages"], 0.0, atol=1e-6)  # SB3's convention: returns - values
    np.testing.assert_allclose(fields["log_probs"].ravel(), snapshot.expected_log_probs, rtol=1e-5, atol=1e-6)


def test_carried_steps_keep_their_behaviour_log_probs():
    """With rollout_mode="carry", steps kept for the next rollout keep the log-probabilities of the policy that acted."""
    env = DummyVecEnv([EndRewardEnv, lambda: EndRewardEnv()])
    model = REINFORCE("MlpPolicy", env, n_steps=EPISODE + 10, rollout_mode="carry", learning_rate=0.1, seed=0)
    _, callback = model._setup_learn(10_000)
    model.env.envs[1].t = 32  # the second env runs half an episode ahead: it finishes first, its next steps are carried
    model._last_obs = np.array([[0.0], [32.0]], dtype=np.float32)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    buffer = model.rollout_buffer
    first = int(np.argmax(~buffer.valid[: buffer.pos, 1]))  # the first of env 1's steps carried to the next rollout
    carried = buffer.log_probs[first : buffer.pos].copy()
    model.train()  # the policy changes
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    assert buffer.n_rows_carried_in == len(carried)
    np.testing.assert_array_equal(buffer.log_probs[: len(carried)], carried)


def leave_one_out_rollouts(scripts: list, grouped: bool, n_rollouts: int, **kwargs) -> list[tuple[list[np.ndarray], ...]]:
    """(returns, values) of the used steps, time-major per env, of ``n_rollouts`` rollouts of ``baseline="loo"``."""
    env = DummyVecEnv([partial(ScriptedEnv, script, i, grouped) for i, script in enumerate(scripts)])
    model = REINFORCE("MlpPolicy", env, baseline="loo", n_steps=1, gamma=1.0, seed=0, **kwargs)
    _, callback = model._setup_learn(10_000)
    rollouts = []
    for _ in range(n_rollouts):
        assert model.collect_rollouts(env, callback, model.rollout_buffer, model.n_steps)
        buffer = model.rollout_buffer
        valid = buffer.valid[: buffer.pos]
        rollouts.append(
            tuple([column[valid[:, i]] for i, column in enumerate(a[: buffer.pos].T)] for a in (buffer.returns, buffer.values))
        )
        model.train()
    return rollouts


def test_leave_one_out_pairs_the_same_step_of_each_episode():
    """
    Env 0's episodes last 3 steps, env 1's 7 (reward 1 per step). In the first rollout env 0 starts a second episode
    while env 1 completes its own (discarded); in the second its 2 remaining steps are paired with the steps of the same
    index (1 and 2) of env 1's episode, not with its first two.
    """
    scripts = [[(1.0, RUN)] * 2 + [(1.0, TERMINATED)], [(1.0, RUN)] * 6 + [(1.0, TERMINATED)]]
    (returns_0, values_0), (returns_1, values_1) = leave_one_out_rollouts(scripts, grouped=False, n_rollouts=2)
    np.testing.assert_allclose(returns_0[0], [3, 2, 1])
    np.testing.assert_allclose(values_0[0], [7, 6, 5])  # env 1's return at steps 0, 1, 2 of its episode
    np.testing.assert_allclose(values_0[1], [3, 2, 1, 0, 0, 0, 0])  # env 0's; nobody else lasts 4 steps
    np.testing.assert_allclose(returns_1[0], [2, 1])
    np.testing.assert_allclose(values_1[0], [6, 5])
    np.testing.assert_allclose(values_1[1], [0, 2, 1, 0, 0, 0, 0])


def test_leave_one_out_groups_and_errors():
    """Grouped by info["group"] (env index % 2): env 1 is alone in its group, so its baseline is 0."""
    scripts = [[(1.0, RUN), (1.0, TERMINATED)], [(5.0, RUN), (1.0, TERMINATED)], [(3.0, RUN), (3.0, TERMINATED)]]
    [(returns, values)] = leave_one_out_rollouts(scripts, grouped=True, n_rollouts=1)
    np.testing.assert_allclose([column.tolist() for column in returns], [[2, 1], [6, 1], [6, 3]])
    np.testing.assert_allclose([column.tolist() for column in values], [[6, 3], [0, 0], [2, 1]])
    [(_, values)] = leave_one_out_rollouts(scripts, grouped=False, n_rollouts=1)
    np.testing.assert_allclose([column.tolist() for column in values], [[6, 2], [4, 2], [4, 1]])

    # Env 1's episode is cut by max_completion_steps (no info, so no group) in rows the buffer grew for: it is alone in
    # its group, not in env 0's (group 0)
    scripts = [[(1.0, RUN), (1.0, TERMINATED)], [(5.0, RUN)] * 10 + [(5.0, TERMINATED)]]
    with pytest.warns(UserWarning, match="max_completion_steps"):
        [(_, values)] = leave_one_out_rollouts(scripts, grouped=True, n_rollouts=1, max_completion_steps=3)
    np.testing.assert_allclose(values[0], [0, 0])
    np.testing.assert_allclose(values[1], [0, 0, 0, 0])

    class Unhashable(ScriptedEnv):
        def step(self, action):
            observation, reward, terminated, truncated, _ = super().step(action)
            return observation, reward, terminated, truncated, {"group": [self.index]}

    model = REINFORCE("MlpPolicy", DummyVecEnv([lambda: Unhashable(scripts[0], 0)]), baseline="loo", n_steps=1)
    with pytest.raises(ValueError, match=r"info\['group'\] must be hashable"):
        model.learn(2)


def parameters_and_optimizer(model: REINFORCE) -> tuple[dict, dict]:
    optimizer = model.policy.optimizer.state_dict()["state"]
    return (
        {name: value.clone() for name, value in model.policy.state_dict().items()},
        {key: {name: value.clone() for name, value in entry.items()} for key, entry in optimizer.items()},
    )


def assert_unchanged(model: REINFORCE, before: tuple[dict, dict]) -> None:
    parameters, optimizer = parameters_and_optimizer(model)
    for name, value in parameters.items():
        assert th.equal(value, before[0][name]), name
    assert optimizer.keys() == before[1].keys()
    for key, entry in optimizer.items():
        for name, value in entry.items():
            assert th.equal(value, before[1][key][name]), (key, name)


@pytest.mark.parametrize(
    "bad,message",
    [
        (("observation", 2 * EPISODE + 5), r"non-finite observation \(nan\) from env 1 at env step 266"),
        (("reward", 2 * EPISODE + 5), r"non-finite reward \(inf\) from env 1 at step 4 of the rollout"),
    ],
)
def test_non_finite_numbers_stop_before_any_change(bad, message):
    """The first rollouts train; then env 1 returns a NaN observation or an infinite reward (at its 133rd step)."""
    env = DummyVecEnv([EndRewardEnv, lambda: EndRewardEnv(bad=bad)])
    model = REINFORCE("MlpPolicy", env, n_steps=EPISODE, seed=0)
    model.learn(2 * EPISODE * 2)
    assert model._n_updates == 2
    before = parameters_and_optimizer(model)
    with pytest.raises(ValueError, match=message + ": training stopped before the parameters changed"):
        model.learn(EPISODE * 2, reset_num_timesteps=False)
    assert_unchanged(model, before)
    assert model._n_updates == 2


def test_non_finite_return_and_loss():
    """Finite rewards whose sum overflows, and returns whose squared error overflows the float32 value loss."""
    env = DummyVecEnv([lambda: EndRewardEnv(reward=3e38, every_step=True)])  # the largest float32 is 3.4e38
    model = REINFORCE("MlpPolicy", env, n_steps=EPISODE, gamma=1.0)
    with pytest.raises(ValueError, match=r"non-finite return \(inf\) from env 0 at step 0 of the rollout"):
        model.learn(EPISODE)
    model = REINFORCE("MlpPolicy", DummyVecEnv([lambda: EndRewardEnv(reward=1e30)]), n_steps=EPISODE)
    before = parameters_and_optimizer(model)
    with pytest.raises(ValueError, match=r"non-finite loss \(inf\): training stopped before the parameters changed"):
        model.learn(EPISODE)
    assert_unchanged(model, before)

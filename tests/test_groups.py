"""Groups of envs that share their start states (make_grouped_vec_env, SharedStarts) for the leave-one-out baseline."""

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib.common.wrappers import ActionMasker
from stable_baselines3.common.vec_env import SubprocVecEnv

from sb3_reinforce import REINFORCE, MaskableREINFORCE, make_grouped_vec_env


def starts_and_groups(env, n_steps: int) -> tuple[list[np.ndarray], list[list]]:
    """The observations after each step (after a reset, the next episode's first) and the groups of ended episodes."""
    observations, groups = [env.reset()], []
    for _ in range(n_steps):
        obs, _, dones, infos = env.step(np.zeros(env.num_envs, dtype=np.int64))
        observations.append(obs)
        groups.append([info.get("group") if done else None for info, done in zip(infos, dones, strict=True)])
    return observations, groups


def test_blocks_share_their_start_states_and_name_their_group():
    """CartPole with the same actions everywhere: a block's envs start, run and end together; blocks differ."""
    env = make_grouped_vec_env("CartPole-v1", n_groups=3, group_size=2, seed=7)
    observations, groups = starts_and_groups(env, 60)
    for obs in observations:
        np.testing.assert_array_equal(obs[0::2], obs[1::2])  # each block's two envs: the same state at every step
        assert len({tuple(row) for row in obs[0::2]}) == 3  # three different blocks
    ends = [(step, row) for step, row in enumerate(groups) if row[0] is not None]
    assert len(ends) >= 2  # several episodes, each named (block, n-th episode)
    assert [row[0] for _, row in ends[:2]] == [(0, 0), (0, 1)]
    assert all(row[0] == row[1] for _, row in ends)


def test_seed_sets_the_starts():
    first = make_grouped_vec_env("CartPole-v1", n_groups=2, group_size=2, seed=0).reset()
    again = make_grouped_vec_env("CartPole-v1", n_groups=2, group_size=2, seed=0).reset()
    np.testing.assert_array_equal(first, again)
    env = make_grouped_vec_env("CartPole-v1", n_groups=2, group_size=2, seed=0)
    env.seed(1)  # as SB3 does when a model is given a seed: each env rank r is reset with seed 1 + r
    reseeded = env.reset()
    np.testing.assert_array_equal(reseeded[0], reseeded[1])
    assert not np.array_equal(reseeded, first)


def test_subprocess_envs():
    env = make_grouped_vec_env("CartPole-v1", n_groups=2, group_size=2, seed=3, vec_env_cls=SubprocVecEnv)
    try:
        obs = env.reset()
        np.testing.assert_array_equal(obs[0], obs[1])
        assert not np.array_equal(obs[0], obs[2])
    finally:
        env.close()


def masked_cartpole() -> gym.Env:
    return ActionMasker(gym.make("CartPole-v1"), lambda env: np.ones(2, dtype=bool))


@pytest.mark.parametrize("algorithm", [REINFORCE, MaskableREINFORCE])
def test_leave_one_out_learns_with_groups(algorithm):
    """RLOO on CartPole (groups of 4, one episode per env and update) learns well above a random policy (about 22)."""
    env_id = "CartPole-v1" if algorithm is REINFORCE else masked_cartpole
    env = make_grouped_vec_env(env_id, n_groups=2, group_size=4, seed=0)
    model = algorithm("MlpPolicy", env, baseline="loo", n_steps=1, learning_rate=1e-2, seed=0)
    model.learn(15_000)
    assert np.mean([info["r"] for info in model.ep_info_buffer]) > 100


@pytest.mark.parametrize("name,value", [("n_groups", 0), ("group_size", 1), ("group_size", 2.5)])
def test_bad_group_arguments(name, value):
    kwargs = {"n_groups": 2, "group_size": 2, name: value}
    with pytest.raises(ValueError, match=f"{name} must be an integer >= "):
        make_grouped_vec_env("CartPole-v1", **kwargs)

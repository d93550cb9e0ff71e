"""The rest of SB3 around REINFORCE: users' own rollout buffers, and files saved by other algorithms."""

import inspect

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import TRPO, MaskablePPO, RecurrentPPO
from sb3_contrib.common.envs import InvalidActionEnvDiscrete
from sb3_contrib.common.maskable.buffers import MaskableRolloutBuffer
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.dqn.policies import DQNPolicy

from sb3_reinforce import MaskableREINFORCE, REINFORCE
from sb3_reinforce.buffers import (
    EpisodeBufferMixin,
    MaskableReinforceRolloutBuffer,
    ReinforceRolloutBuffer,
    episode_buffer_class,
)


class Tagging:
    """A user's extra data: each step's ``add()`` call number, in an array of its own, read back by ``_get_samples``."""

    n_adds = 0
    buffer_size: int  # those of RolloutBuffer that it uses
    n_envs: int
    pos: int

    def __init__(self, *args, **kwargs) -> None:
        self.sampled: set[float] = set()
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.add_number = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)

    def add(self, *args, **kwargs) -> None:
        self.add_number[self.pos] = self.n_adds
        self.n_adds += 1
        super().add(*args, **kwargs)  # type: ignore[misc]

    def _get_samples(self, batch_inds, env=None):
        self.sampled.update(self.add_number[batch_inds].ravel().tolist())
        return super()._get_samples(batch_inds, env)


class TaggedBuffer(Tagging, RolloutBuffer):
    pass


class TaggedDictBuffer(Tagging, DictRolloutBuffer):
    pass


class TaggedMaskableBuffer(Tagging, MaskableRolloutBuffer):
    pass


class MyEpisodeBuffer(ReinforceRolloutBuffer):
    pass


class DictIdentityEnv(gym.Wrapper):
    def __init__(self, ep_length: int):
        super().__init__(IdentityEnv(dim=3, ep_length=ep_length))
        self.observation_space = spaces.Dict({"state": self.env.observation_space})

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return {"state": obs}, info

    def step(self, action):
        obs, *rest = self.env.step(action)
        return {"state": obs}, *rest


def test_episode_buffer_class():
    """The mixin is added once per class; SB3's own buffers map to the named classes, the mixin's to themselves."""
    made = episode_buffer_class(TaggedBuffer)
    assert made is episode_buffer_class(TaggedBuffer)
    assert made.__name__ == "EpisodeTaggedBuffer" and made.__mro__[1:4] == (EpisodeBufferMixin, TaggedBuffer, Tagging)
    assert episode_buffer_class(RolloutBuffer) is ReinforceRolloutBuffer
    assert episode_buffer_class(MaskableRolloutBuffer) is MaskableReinforceRolloutBuffer
    assert episode_buffer_class(MyEpisodeBuffer) is MyEpisodeBuffer


def test_sb3_buffer_on_pendulum():
    model = REINFORCE("MlpPolicy", "Pendulum-v1", rollout_buffer_class=RolloutBuffer, n_steps=16, seed=0)
    assert model.rollout_buffer_class is RolloutBuffer and type(model.rollout_buffer) is ReinforceRolloutBuffer
    model.learn(total_timesteps=16)
    assert model.num_timesteps == 200  # the rollout ran on to the end of the episode


@pytest.mark.parametrize(
    "buffer_class,env_fn,policy",
    [
        (TaggedBuffer, lambda: IdentityEnv(dim=3, ep_length=10), "MlpPolicy"),
        (TaggedDictBuffer, lambda: DictIdentityEnv(ep_length=10), "MultiInputPolicy"),
        (MyEpisodeBuffer, lambda: IdentityEnv(dim=3, ep_length=10), "MlpPolicy"),
    ],
)
def test_custom_buffer(buffer_class, env_fn, policy):
    """The user's overrides run, and the extra array grows past n_steps and is flattened with the others."""
    model = REINFORCE(policy, make_vec_env(env_fn, n_envs=2, seed=0), n_steps=8, rollout_buffer_class=buffer_class, seed=0)
    assert model.rollout_buffer_class is buffer_class
    assert type(model.rollout_buffer) is episode_buffer_class(buffer_class)
    model.learn(total_timesteps=60)
    assert model.num_timesteps == 60  # 3 rollouts of 10 steps (8, then to the end of the 10-step episodes) x 2 envs
    if issubclass(buffer_class, Tagging):
        assert model.rollout_buffer.n_adds == 30
        assert model.rollout_buffer.sampled == set(range(30))  # every step of every rollout, steps 9 and 10 included


def test_custom_buffer_save_load(tmp_path):
    """save() stores the user's class (importable), not the subclass made on the fly; load() makes it again."""
    env = make_vec_env(lambda: IdentityEnv(dim=3, ep_length=10), n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=8, rollout_buffer_class=TaggedBuffer, seed=0)
    model.learn(total_timesteps=40)
    model.save(tmp_path / "model.zip")
    data, _, _ = load_from_zip_file(tmp_path / "model.zip")
    assert data["rollout_buffer_class"] is TaggedBuffer

    loaded = REINFORCE.load(tmp_path / "model.zip", env=env)
    assert loaded.rollout_buffer_class is TaggedBuffer
    assert type(loaded.rollout_buffer) is episode_buffer_class(TaggedBuffer)
    observations = np.arange(3)
    np.testing.assert_array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )
    loaded.learn(total_timesteps=40, reset_num_timesteps=False)
    assert loaded.num_timesteps == 80 and loaded.rollout_buffer.n_adds == 20
    loaded.save(tmp_path / "again.zip")
    assert load_from_zip_file(tmp_path / "again.zip")[0]["rollout_buffer_class"] is TaggedBuffer


def test_maskable_custom_buffer():
    env = make_vec_env(lambda: InvalidActionEnvDiscrete(dim=10, ep_length=10, n_invalid_actions=6), n_envs=2, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=8, rollout_buffer_class=TaggedMaskableBuffer, seed=0)
    model.learn(total_timesteps=40)
    assert model.rollout_buffer.n_adds == 20 and isinstance(model.rollout_buffer, MaskableRolloutBuffer)
    assert not model.rollout_buffer.action_masks.all()  # the masks were stored
    # A buffer without masks is refused, even when learn() is to run without masking (as MaskablePPO does)
    for buffer_class in (RolloutBuffer, TaggedBuffer, ReinforceRolloutBuffer):
        with pytest.raises(ValueError, match=r"rollout_buffer_class.*MaskableRolloutBuffer.*" + buffer_class.__name__):
            MaskableREINFORCE("MlpPolicy", env, rollout_buffer_class=buffer_class)


def cartpole(seed: int):
    return make_vec_env("CartPole-v1", n_envs=2, seed=seed)


def cartpole_observations() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 0.5, size=(32, 4)).astype(np.float32)


def assert_same_policy(policy_a: th.nn.Module, policy_b: th.nn.Module) -> None:
    params_a, params_b = policy_a.state_dict(), policy_b.state_dict()
    assert params_a.keys() == params_b.keys()
    assert all(th.equal(params_a[name], params_b[name]) for name in params_a)


@pytest.mark.parametrize("algorithm", [A2C, PPO, TRPO])
def test_load_actor_critic_file(tmp_path, algorithm):
    """As A2C loads a PPO file: the policy, its optimizer and the shared hyperparameters from the file, REINFORCE's
    defaults for the rest, and training goes on."""
    other = algorithm("MlpPolicy", cartpole(0), n_steps=64, gamma=0.95, learning_rate=5e-4, seed=0)
    other.learn(total_timesteps=128)
    other.save(tmp_path / "model.zip")

    model = REINFORCE.load(tmp_path / "model.zip", env=cartpole(1))
    assert_same_policy(model.policy, other.policy)
    observations = cartpole_observations()
    np.testing.assert_array_equal(
        model.predict(observations, deterministic=True)[0], other.predict(observations, deterministic=True)[0]
    )
    assert (model.gamma, model.n_steps, model.learning_rate) == (0.95, 64, 5e-4)
    defaults = inspect.signature(REINFORCE).parameters
    for name in ("baseline", "rollout_mode", "max_completion_steps"):
        assert getattr(model, name) == defaults[name].default, name
    assert type(model.rollout_buffer) is ReinforceRolloutBuffer

    before = {name: param.detach().clone() for name, param in model.policy.named_parameters()}
    n_updates = model._n_updates
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300 and model._n_updates > n_updates
    assert any(not th.equal(before[name], param) for name, param in model.policy.named_parameters())


@pytest.mark.parametrize(
    "make_model,policy_class,saved_by",
    [
        (lambda: DQN("MlpPolicy", "CartPole-v1", buffer_size=100), "DQNPolicy", "DQN"),
        (lambda: SAC("MlpPolicy", "Pendulum-v1", buffer_size=100), "SACPolicy", "SAC"),
        (lambda: RecurrentPPO("MlpLstmPolicy", "CartPole-v1", n_steps=8), "RecurrentActorCriticPolicy", "RecurrentPPO"),
        (lambda: MaskablePPO("MlpPolicy", "CartPole-v1", n_steps=8, batch_size=8), "MaskableActorCriticPolicy", "MaskablePPO"),
    ],
)
def test_load_file_of_another_policy_class(tmp_path, make_model, policy_class, saved_by):
    """The file names no algorithm; its policy class does, and REINFORCE needs an ActorCriticPolicy."""
    make_model().save(tmp_path / "model.zip")
    needed = "ActorCriticPolicy that is not recurrent" if saved_by == "RecurrentPPO" else "ActorCriticPolicy$"
    with pytest.raises(
        ValueError, match=rf"policy class {policy_class} \(the policy of {saved_by}: .*REINFORCE needs .*{needed}"
    ):
        REINFORCE.load(tmp_path / "model.zip")


def masked_env(seed: int):
    return make_vec_env(lambda: InvalidActionEnvDiscrete(dim=10, ep_length=10, n_invalid_actions=6), n_envs=2, seed=seed)


def test_maskable_load_maskable_ppo_file(tmp_path):
    other = MaskablePPO("MlpPolicy", masked_env(0), n_steps=32, gamma=0.9, seed=0)
    other.learn(total_timesteps=64)
    other.save(tmp_path / "model.zip")

    model = MaskableREINFORCE.load(tmp_path / "model.zip", env=masked_env(1))
    assert_same_policy(model.policy, other.policy)
    assert model.gamma == 0.9 and type(model.rollout_buffer) is MaskableReinforceRolloutBuffer
    single = InvalidActionEnvDiscrete(dim=10, ep_length=10, n_invalid_actions=6)
    obs, _ = single.reset(seed=0)
    masks = np.asarray(single.action_masks())
    action = model.predict(obs, action_masks=masks, deterministic=True)[0]
    assert action == other.predict(obs, action_masks=masks, deterministic=True)[0]
    n_updates = model._n_updates
    model.learn(total_timesteps=200)
    assert model.num_timesteps >= 200 and model._n_updates > n_updates


@pytest.mark.parametrize("algorithm,kwargs", [(PPO, dict(batch_size=8)), (A2C, {})])
def test_maskable_load_unmasked_file(tmp_path, algorithm, kwargs):
    algorithm("MlpPolicy", "CartPole-v1", n_steps=8, **kwargs).save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"ActorCriticPolicy \(the policy of A2C or PPO or TRPO.*MaskableActorCriticPolicy"):
        MaskableREINFORCE.load(tmp_path / "model.zip")


def test_policy_class_checked_at_construction():
    """The same check when the class is given directly."""
    with pytest.raises(ValueError, match=r"policy class DQNPolicy .*DQN"):
        REINFORCE(DQNPolicy, "CartPole-v1")
    with pytest.raises(ValueError, match=r"policy class ActorCriticPolicy .*MaskableREINFORCE"):
        MaskableREINFORCE(PPO.policy_aliases["MlpPolicy"], "CartPole-v1")

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete
from stable_baselines3.common.vec_env import VecNormalize

from envs import OffsetEnv
from sb3_reinforce import REINFORCE
from sb3_reinforce.buffers import DictReinforceRolloutBuffer, ReinforceRolloutBuffer

OFFSET = dict(dim=3, offset=50.0, scale=5.0, reward_offset=0.0)  # the raw observations below follow it

ENVS = {
    "Discrete": lambda: IdentityEnv(dim=3, ep_length=10),
    "Box": lambda: IdentityEnvBox(ep_length=10),
    "MultiDiscrete": lambda: IdentityEnvMultiDiscrete(dim=3, ep_length=10),
    "MultiBinary": lambda: IdentityEnvMultiBinary(dim=3, ep_length=10),
}
HYPERPARAMETERS = [
    dict(
        baseline="mean",
        normalize_advantage=False,
        rollout_mode="discard",
        n_steps=12,
        gamma=0.95,
        learning_rate=3e-4,
        max_completion_steps=77,
        ent_coef=0.01,
        vf_coef=0.3,
        max_grad_norm=None,
    ),
    dict(
        baseline="value",
        normalize_advantage=True,
        rollout_mode="bootstrap",
        n_steps=7,
        gamma=0.9,
        learning_rate=2e-3,
        max_completion_steps=None,
        ent_coef=0.0,
        vf_coef=0.8,
        max_grad_norm=0.7,
    ),
]


def sample_observations(space: spaces.Space, n: int = 20):
    space.seed(0)
    observations = [space.sample() for _ in range(n)]
    if isinstance(space, spaces.Dict):
        return {key: np.stack([obs[key] for obs in observations]) for key in space.spaces}
    return np.stack(observations)


def assert_same_parameters(model_a: REINFORCE, model_b: REINFORCE) -> None:
    params_a, params_b = model_a.policy.state_dict(), model_b.policy.state_dict()
    assert params_a.keys() == params_b.keys()
    for name in params_a:
        assert th.equal(params_a[name], params_b[name]), name


@pytest.mark.parametrize("hyperparameters", HYPERPARAMETERS, ids=["mean-discard", "value-bootstrap"])
@pytest.mark.parametrize("action_space", list(ENVS))
def test_save_load(tmp_path, action_space, hyperparameters):
    env = make_vec_env(ENVS[action_space], n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, seed=0, **hyperparameters)
    model.learn(total_timesteps=100)
    observations = sample_observations(env.observation_space)
    actions, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "model.zip")

    loaded = REINFORCE.load(tmp_path / "model.zip")  # no env: only for prediction
    assert_same_parameters(model, loaded)
    for name, value in hyperparameters.items():
        assert getattr(loaded, name) == value, name
    assert loaded.num_timesteps == model.num_timesteps
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], actions)

    # The optimizer state comes back too
    state_a, state_b = model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict()
    assert state_a["param_groups"][0]["lr"] == state_b["param_groups"][0]["lr"]
    for key in state_a["state"]:
        for name in ("exp_avg", "exp_avg_sq"):
            assert th.equal(state_a["state"][key][name], state_b["state"][key][name])


@pytest.mark.parametrize("action_space", ["Discrete", "Box"])
def test_learn_after_load(tmp_path, action_space):
    env = make_vec_env(ENVS[action_space], n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=10, baseline="value", rollout_mode="carry", seed=0)
    model.learn(total_timesteps=60)
    model.save(tmp_path / "model.zip")
    n_updates, num_timesteps = model._n_updates, model.num_timesteps

    loaded = REINFORCE.load(tmp_path / "model.zip")
    loaded.set_env(make_vec_env(ENVS[action_space], n_envs=2, seed=1))
    assert isinstance(loaded.rollout_buffer, ReinforceRolloutBuffer)
    before = {name: param.detach().clone() for name, param in loaded.policy.named_parameters()}
    loaded.learn(total_timesteps=60, reset_num_timesteps=False)
    assert loaded.num_timesteps >= num_timesteps + 60
    assert loaded._n_updates > n_updates
    assert any(not th.equal(before[name], param) for name, param in loaded.policy.named_parameters())

    # Loading with an env given directly works the same
    loaded = REINFORCE.load(tmp_path / "model.zip", env=make_vec_env(ENVS[action_space], n_envs=2, seed=2))
    loaded.learn(total_timesteps=40, reset_num_timesteps=False)
    assert loaded.num_timesteps >= num_timesteps + 40


class DictEnv(gym.Env):
    def __init__(self):
        self.observation_space = spaces.Dict(
            {"position": spaces.Box(-1, 1, shape=(2,), dtype=np.float32), "mode": spaces.Discrete(3)}
        )
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.step_count += 1
        return self.observation_space.sample(), float(action == 1), False, self.step_count >= 6, {}


def test_save_load_dict_obs(tmp_path):
    model = REINFORCE("MultiInputPolicy", make_vec_env(DictEnv, n_envs=2, seed=0), n_steps=8, seed=0)
    model.learn(total_timesteps=64)
    observations = sample_observations(model.observation_space)
    model.save(tmp_path / "model.zip")
    loaded = REINFORCE.load(tmp_path / "model.zip", env=make_vec_env(DictEnv, n_envs=2, seed=1))
    assert isinstance(loaded.rollout_buffer, DictReinforceRolloutBuffer)
    assert_same_parameters(model, loaded)
    np.testing.assert_array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )
    loaded.learn(total_timesteps=32, reset_num_timesteps=False)
    assert loaded.num_timesteps >= model.num_timesteps + 32


def test_vec_normalize_save_load(tmp_path):
    env = VecNormalize(make_vec_env(OffsetEnv, n_envs=2, seed=0, env_kwargs=OFFSET))
    model = REINFORCE("MlpPolicy", env, n_steps=8, seed=0)
    model.learn(total_timesteps=200)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vec_normalize.pkl"))

    raw_obs = np.random.default_rng(0).normal(50.0, 5.0, size=(16, 3)).astype(np.float32)
    normalized = env.normalize_obs(raw_obs)
    assert np.abs(normalized).mean() < 3.0  # the statistics were learned: far from the raw values

    new_venv = make_vec_env(OffsetEnv, n_envs=2, seed=1, env_kwargs=OFFSET)
    new_env = VecNormalize.load(str(tmp_path / "vec_normalize.pkl"), new_venv)
    new_env.training = False
    new_env.norm_reward = False
    np.testing.assert_array_equal(new_env.obs_rms.mean, env.obs_rms.mean)
    np.testing.assert_array_equal(new_env.obs_rms.var, env.obs_rms.var)
    np.testing.assert_array_equal(new_env.normalize_obs(raw_obs), normalized)

    loaded = REINFORCE.load(tmp_path / "model.zip", env=new_env)
    assert loaded.get_vec_normalize_env() is new_env
    np.testing.assert_array_equal(
        loaded.predict(new_env.normalize_obs(raw_obs), deterministic=True)[0], model.predict(normalized, deterministic=True)[0]
    )

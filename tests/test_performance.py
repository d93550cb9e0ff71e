"""What REINFORCE's speed rests on: acting with the actor only, and running where SB3 runs (CPU or CUDA)."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
)

from sb3_reinforce import REINFORCE

requires_cuda = pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA device")


def count_forward_calls(*modules: th.nn.Module) -> list[int]:
    """Count the forward passes of ``modules`` from now on (in ``counter[0]``)."""
    counter = [0]

    def hook(module: th.nn.Module, inputs: object, output: object) -> None:
        counter[0] += 1

    for module in modules:
        module.register_forward_hook(hook)
    return counter


@pytest.mark.parametrize("rollout_mode", ["discard", "carry"])
@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_no_value_head_without_value_baseline(baseline, rollout_mode):
    """Neither acting, nor truncated episodes, nor the update runs the critic when there is no value baseline."""
    env = make_vec_env(lambda: IdentityEnv(dim=3, ep_length=7), n_envs=2, seed=0)  # every episode is truncated
    model = REINFORCE("MlpPolicy", env, n_steps=8, baseline=baseline, rollout_mode=rollout_mode, seed=0)
    calls = count_forward_calls(model.policy.mlp_extractor.value_net, model.policy.value_net)
    model.learn(total_timesteps=100)
    assert model._n_updates >= 2
    assert calls[0] == 0


def test_value_head_runs_once_per_update():
    """
    With the value baseline the critic runs on whole batches only, never while acting (episodes all terminate here):
    once per update, on the rollout when it ends (the baseline), a pass that the update reuses; plus the value fit.
    """
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=16, baseline="value", rollout_mode="discard", n_value_epochs=0, seed=0)
    calls = count_forward_calls(model.policy.value_net)
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    assert model._n_updates >= 2
    assert calls[0] == model._n_updates


@pytest.mark.parametrize(
    "make_env,use_sde",
    [
        (lambda: IdentityEnv(dim=3), False),
        (lambda: IdentityEnvBox(), False),
        (lambda: IdentityEnvBox(), True),
        (lambda: IdentityEnvMultiDiscrete(dim=3), False),
        (lambda: IdentityEnvMultiBinary(dim=3), False),
    ],
    ids=["Discrete", "Box", "Box-gSDE", "MultiDiscrete", "MultiBinary"],
)
def test_actor_only_sampling_matches_full_forward(make_env, use_sde):
    """
    Sampling from the actor alone draws the same actions as SB3's full forward pass (actor and critic) from the same
    random state: skipping the critic while acting leaves every seeded run unchanged.
    """
    env = make_env()
    model = REINFORCE("MlpPolicy", env, use_sde=use_sde, seed=0)
    env.observation_space.seed(0)
    obs = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(6)]))
    th.manual_seed(1)
    expected, _, _ = model.policy(obs)
    th.manual_seed(1)
    actions = model.policy.get_distribution(obs).get_actions()
    assert th.equal(actions.reshape(expected.shape), expected)


def test_default_device_as_in_sb3():
    """``device="auto"`` chooses what SB3's algorithms choose (CPU here unless CUDA is available)."""
    assert REINFORCE("MlpPolicy", "CartPole-v1").device == A2C("MlpPolicy", "CartPole-v1").device


@requires_cuda
@pytest.mark.parametrize(
    "baseline,rollout_mode",
    [("value", "discard"), ("value", "bootstrap"), ("none", "carry")],
    ids=["value", "bootstrap", "none"],
)
@pytest.mark.parametrize("make_env", [lambda: IdentityEnv(dim=3, ep_length=7), lambda: IdentityEnvBox(ep_length=7)])
def test_cuda(make_env, baseline, rollout_mode):
    """Training on a GPU: truncated episodes (bootstrapped with the value baseline), updates, predictions."""
    env = make_vec_env(make_env, n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=8, baseline=baseline, rollout_mode=rollout_mode, device="cuda", seed=0)
    before = [param.detach().clone() for param in model.policy.action_net.parameters()]
    model.learn(total_timesteps=100)
    assert model.device.type == "cuda"
    assert all(param.device.type == "cuda" for param in model.policy.parameters())
    assert model._n_updates >= 2
    assert any(not th.equal(old, new) for old, new in zip(before, model.policy.action_net.parameters(), strict=True))
    actions, _ = model.predict(env.reset())
    assert actions.shape[0] == 2


@requires_cuda
def test_cuda_cnn_policy():
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1)
    model = REINFORCE("CnnPolicy", env, n_steps=8, device="cuda", seed=0)
    model.learn(total_timesteps=24)
    assert model._n_updates >= 2
    assert all(param.device.type == "cuda" for param in model.policy.parameters())


@requires_cuda
def test_auto_device_recommends_cpu_for_mlp_policy():
    """As SB3's A2C and PPO: ``device="auto"`` takes the GPU, with SB3's advice to run an MlpPolicy on the CPU."""
    with pytest.warns(UserWarning, match="primarily intended to run on the CPU"):
        model = REINFORCE("MlpPolicy", gym.make("CartPole-v1"))
    assert model.device.type == "cuda"

"""
The update: one policy step whose weights use the baseline from before the update, the value fit (its own optimizer and
passes, value-only parameters), the KL step-size safeguard, and max_grad_norm on the policy's parameters alone.
"""

import zipfile

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv, IdentityEnvBox

from sb3_reinforce import REINFORCE


def collect(model: REINFORCE) -> None:
    """Collect one rollout (from freshly reset envs) into ``model.rollout_buffer``."""
    _, callback = model._setup_learn(10_000)
    assert model.env is not None
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)


def state(module: th.nn.Module) -> dict[str, th.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def rollout_data(model: REINFORCE):
    return next(model.rollout_buffer.get())


def make(env="CartPole-v1", **kwargs) -> REINFORCE:
    return REINFORCE("MlpPolicy", make_vec_env(env, n_envs=2, seed=0), n_steps=64, seed=0, device="cpu", **kwargs)


@pytest.mark.parametrize(
    "policy,env,policy_kwargs",
    [
        ("MlpPolicy", lambda: IdentityEnvBox(ep_length=20), {}),
        ("CnnPolicy", lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), {}),
        (
            "CnnPolicy",
            lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1),
            dict(share_features_extractor=False),
        ),
    ],
    ids=["mlp", "cnn-shared", "cnn-separate"],
)
def test_value_fit_leaves_the_policy_unchanged(policy, env, policy_kwargs):
    """The value passes lower the value loss and change only value-only parameters: the policy's output is identical."""
    fit = dict(n_value_epochs=10, value_batch_size=16)
    model = REINFORCE(policy, make_vec_env(env, n_envs=2, seed=0), n_steps=32, seed=0, policy_kwargs=policy_kwargs, **fit)
    collect(model)
    data = rollout_data(model)
    with th.no_grad():
        distribution = model.policy.get_distribution(data.observations).distribution
        loss_before = ((model.policy.predict_values(data.observations).flatten() - data.returns) ** 2).mean().item()
    value_ids = {id(p) for p in model._value_parameters}
    policy_before = {name: p.detach().clone() for name, p in model.policy.named_parameters() if id(p) not in value_ids}
    model._fit_value(data.observations, data.returns)
    with th.no_grad():
        after = model.policy.get_distribution(data.observations).distribution
        loss_after = ((model.policy.predict_values(data.observations).flatten() - data.returns) ** 2).mean().item()
    for name, parameter in model.policy.named_parameters():
        if id(parameter) not in value_ids:
            assert th.equal(parameter, policy_before[name]), name
    outputs = (lambda d: d.logits) if hasattr(distribution, "logits") else (lambda d: th.stack([d.loc, d.scale]))
    assert th.equal(outputs(distribution), outputs(after))
    assert loss_after < 0.9 * loss_before
    separate = policy_kwargs.get("share_features_extractor") is False
    extractor_ids = {id(p) for p in model.policy.vf_features_extractor.parameters()}
    assert bool(extractor_ids & value_ids) == separate  # a shared extractor is the policy's, never the value fit's


def test_weights_use_the_baseline_from_before_the_update():
    """The weights are returns minus V as it was when the rollout ended; the value fit then changes V for the next one."""
    model = make(normalize_advantage=False, n_value_epochs=5, vf_learning_rate=1e-2)
    collect(model)
    buffer = model.rollout_buffer
    valid = buffer.valid[: buffer.pos].T  # env-major, as get() orders the transitions
    observations = th.as_tensor(buffer.observations[: buffer.pos].swapaxes(0, 1)[valid])
    with th.no_grad():
        values_before = model.policy.predict_values(observations).flatten().numpy()
    returns = buffer.returns[: buffer.pos].T[valid]
    consumed = []
    policy_weights = model._policy_weights
    model._policy_weights = lambda advantages: consumed.append(advantages.numpy().copy()) or policy_weights(advantages)
    model.train()
    np.testing.assert_allclose(consumed[0], returns - values_before, rtol=1e-5, atol=1e-5)
    with th.no_grad():
        values_after = model.policy.predict_values(observations).flatten().numpy()
    assert np.abs(values_after - values_before).max() > 1e-2  # the fit moved V: the weights did not use the new one
    assert ((returns - values_after) ** 2).mean() < ((returns - values_before) ** 2).mean()


def test_value_fit_learning_rate_schedule_and_logs():
    model = make(n_value_epochs=2, vf_learning_rate=lambda progress: 1e-3 * progress)
    model.learn(2_000)
    assert model.value_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * model._current_progress_remaining)
    logged = model.logger.name_to_value
    for key in ("train/value_loss", "train/value_fit_loss", "train/explained_variance"):
        assert key in logged, key
    assert "train/kl" not in logged and "train/step_scale" not in logged  # no target_kl: nothing measured or shrunk


def train_once(target_kl: float | None, learning_rate: float = 0.5) -> tuple[REINFORCE, dict[str, th.Tensor], dict]:
    model = make(target_kl=target_kl, learning_rate=learning_rate, n_value_epochs=0)
    collect(model)
    before = state(model.policy)
    model.train()
    return model, before, dict(model.logger.name_to_value)


def test_target_kl_shrinks_the_step_along_its_direction():
    free, before, free_logged = train_once(1e9)  # measured, never shrunk
    assert free_logged["train/step_scale"] == 1.0
    assert free_logged["train/kl"] > 0.01  # a large learning rate: the free step moves the policy far
    limited, before_limited, logged = train_once(0.01)
    assert 0 < logged["train/step_scale"] < 1
    assert logged["train/kl"] <= 0.01
    value_ids = {id(p) for p in limited._value_parameters}
    for (name, parameter), free_parameter in zip(limited.policy.named_parameters(), free.policy.parameters(), strict=True):
        free_step = free_parameter.detach() - before[name]
        step = parameter.detach() - before_limited[name]
        expected = free_step if id(parameter) in value_ids else logged["train/step_scale"] * free_step
        assert th.allclose(step, expected, atol=1e-6), name  # the same direction, shrunk (the value head: not shrunk)


def test_target_kl_undoes_a_step_it_cannot_shrink_enough():
    model, before, logged = train_once(1e-30)
    assert logged["train/step_scale"] == 0.0
    for name, parameter in model.policy.named_parameters():
        if all(parameter is not p for p in model._value_parameters):
            assert th.equal(parameter, before[name]), name


def test_max_grad_norm_clips_the_policy_gradient_only():
    """A tiny max_grad_norm makes the policy's step tiny while the value head's step is not clipped."""
    learning_rate = 1e-3
    model = REINFORCE(
        "MlpPolicy",
        IdentityEnv(dim=3, ep_length=10),
        n_steps=10,
        learning_rate=learning_rate,
        max_grad_norm=1e-9,
        n_value_epochs=0,
        seed=0,
    )
    policy_before, value_before = state(model.policy.action_net), state(model.policy.value_net)
    model.learn(total_timesteps=10)
    assert model._n_updates == 1
    policy_step = max((p - policy_before[n]).abs().max().item() for n, p in model.policy.action_net.named_parameters())
    value_step = max((p - value_before[n]).abs().max().item() for n, p in model.policy.value_net.named_parameters())
    assert 0 < policy_step < 0.01 * learning_rate
    assert value_step > 0.5 * learning_rate


def test_save_load_keeps_the_value_optimizer(tmp_path):
    model = make(n_value_epochs=2)
    model.learn(1_000)
    model.save(tmp_path / "model.zip")
    loaded = REINFORCE.load(tmp_path / "model.zip", env=model.env)
    saved_state, loaded_state = model.value_optimizer.state_dict(), loaded.value_optimizer.state_dict()
    assert saved_state["state"] and loaded_state["state"].keys() == saved_state["state"].keys()
    for key, value in saved_state["state"].items():
        assert th.equal(value["exp_avg"], loaded_state["state"][key]["exp_avg"])
    # A file without it (written before the value fit existed) loads with a fresh value optimizer
    with zipfile.ZipFile(tmp_path / "model.zip") as source, zipfile.ZipFile(tmp_path / "old.zip", "w") as target:
        for item in source.namelist():
            if item != "value_optimizer.pth":
                target.writestr(item, source.read(item))
    old = REINFORCE.load(tmp_path / "old.zip", env=model.env)
    assert not old.value_optimizer.state_dict()["state"]
    for name, parameter in old.policy.named_parameters():
        assert th.equal(parameter, dict(model.policy.named_parameters())[name])
    old.learn(500)


@pytest.mark.parametrize(
    "name,value",
    [("vf_learning_rate", 0), ("n_value_epochs", -1), ("n_value_epochs", 1.5), ("value_batch_size", 0), ("target_kl", 0.0)],
)
def test_bad_update_hyperparameters(name, value):
    with pytest.raises(ValueError, match=name):
        make(**{name: value})

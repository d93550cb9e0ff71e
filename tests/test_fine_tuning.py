"""
Fine-tuning: the advantage scaling (``normalize_advantage="group"``), the KL penalty to a frozen reference policy
(``kl_coef``, ``kl_penalty``, ``set_reference``), the value warm-up (``value_warmup_steps``) and supervised pretraining
(``pretrain_policy``, ``collect_demonstrations``). The exact-gradient checks of the KL forms are in test_estimator.py.
"""

import numpy as np
import pytest
import torch as th
from sb3_contrib.common.envs import InvalidActionEnvDiscrete
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.logger import configure
from stable_baselines3.common.save_util import load_from_zip_file

from sb3_reinforce import REINFORCE, MaskableREINFORCE, collect_demonstrations, make_grouped_vec_env, pretrain_policy
from sb3_reinforce.returns import group_std


def same_parameters(first: th.nn.Module, second: th.nn.Module) -> bool:
    return all(th.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))


def logged_keys(model: REINFORCE, tmp_path, steps: int) -> dict[str, float]:
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(steps)
    lines = (tmp_path / "progress.csv").read_text().splitlines()
    header, last = lines[0].split(","), lines[-1].split(",")
    return {key: float(value) for key, value in zip(header, last, strict=True) if value}


@pytest.mark.parametrize(
    "name,value",
    [
        ("normalize_advantage", "episode"),
        ("normalize_advantage", None),
        ("normalize_advantage", 1),
        ("kl_coef", -0.1),
        ("kl_coef", float("nan")),
        ("kl_coef", "0.1"),
        ("kl_penalty", "k3"),
        ("value_warmup_steps", -1),
        ("value_warmup_steps", 10.5),
    ],
)
def test_bad_fine_tuning_parameters_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        REINFORCE("MlpPolicy", "CartPole-v1", **{name: value})


@pytest.mark.parametrize("kwargs", [dict(baseline="loo"), dict(n_value_epochs=0)])
def test_value_warmup_needs_a_value_fit(kwargs):
    with pytest.raises(ValueError, match=r"value_warmup_steps=100 .* baseline='value' and n_value_epochs >= 1"):
        REINFORCE("MlpPolicy", "CartPole-v1", value_warmup_steps=100, **kwargs)


def test_off_by_default_and_nothing_is_computed(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, seed=0)
    values = logged_keys(model, tmp_path, 300)
    assert model.ref_policy is None and not any(key.startswith("train/ref_kl") for key in values)
    assert not model.rollout_buffer.ref_log_probs.any()
    model.save(tmp_path / "model.zip")
    assert "ref_policy" not in load_from_zip_file(tmp_path / "model.zip")[1]


def test_reference_is_the_starting_policy_frozen(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, kl_coef=0.1, seed=0)
    with th.no_grad():  # as a pretraining step would: the reference is the policy as learn() starts
        model.policy.action_net.bias.add_(1.0)
    start = REINFORCE("MlpPolicy", "CartPole-v1", seed=0).policy
    start.load_state_dict(model.policy.state_dict())
    values = logged_keys(model, tmp_path, 1000)
    assert same_parameters(model.ref_policy, start)
    assert not same_parameters(model.policy, start)  # the policy moved, the reference did not
    assert not any(p.requires_grad for p in model.ref_policy.parameters()) and not model.ref_policy.training
    assert values["train/ref_kl"] > 0 and "train/ref_kl_share" in values
    reference = model.ref_policy
    model.learn(200, reset_num_timesteps=False)
    assert model.ref_policy is reference  # a later learn() keeps it


def test_reward_penalty_is_k1_of_the_behaviour_policy_once_per_step():
    """CartPole's reward is 1: every stored reward is 1 - beta (log pi - log pi_ref), carried steps penalized once."""
    beta = 0.3
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", 3, seed=0), n_steps=16, rollout_mode="carry", kl_coef=beta)
    model.set_reference()
    with th.no_grad():
        model.policy.action_net.weight.mul_(-2.0)  # pi far from pi_ref
    _, callback = model._setup_learn(total_timesteps=10_000)
    buffer = model.rollout_buffer
    for _ in range(3):
        assert model.collect_rollouts(model.env, callback, buffer, model.n_steps)
        rows = buffer.pos
        observations = th.as_tensor(buffer.observations[:rows].reshape(-1, 4))
        actions = th.as_tensor(buffer.actions[:rows].reshape(-1))
        reference = model.ref_policy.get_distribution(observations).log_prob(actions).detach().numpy().reshape(rows, 3)
        np.testing.assert_allclose(buffer.ref_log_probs[:rows], reference, rtol=1e-5, atol=1e-6)
        penalized = 1.0 - beta * (buffer.log_probs[:rows] - buffer.ref_log_probs[:rows])
        np.testing.assert_allclose(buffer.rewards[:rows], penalized, rtol=1e-5, atol=1e-5)
        assert buffer.n_carried > 0 or buffer.n_rows_carried_in > 0 or rows > model.n_steps
        model.train()


def test_loss_penalty_leaves_the_rewards(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, kl_coef=0.1, kl_penalty="loss", seed=0)
    values = logged_keys(model, tmp_path, 500)
    valid = model.rollout_buffer.valid[: model.rollout_buffer.pos]
    assert "train/ref_kl" in values and "train/ref_kl_share" not in values
    assert model.rollout_buffer.ref_log_probs.any() and valid.any()


def test_reference_is_saved_and_loaded(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, kl_coef=0.1, seed=0)
    model.learn(500)
    model.save(tmp_path / "model.zip")
    loaded = REINFORCE.load(tmp_path / "model.zip")
    assert same_parameters(loaded.ref_policy, model.ref_policy) and not same_parameters(loaded.ref_policy, loaded.policy)
    assert not any(p.requires_grad for p in loaded.ref_policy.parameters())
    loaded.set_env(make_vec_env("CartPole-v1", 1))
    loaded.learn(200)
    assert same_parameters(loaded.ref_policy, model.ref_policy)  # learn() keeps the loaded reference
    # a file saved without a reference and loaded with kl_coef > 0 takes the policy as the next learn() starts
    REINFORCE("MlpPolicy", "CartPole-v1", seed=1).save(tmp_path / "plain.zip")
    plain = REINFORCE.load(tmp_path / "plain.zip", env=make_vec_env("CartPole-v1", 1), kl_coef=0.1)
    assert plain.ref_policy is None
    policy_at_start = {key: value.clone() for key, value in plain.policy.state_dict().items()}
    plain.learn(100)
    assert all(th.equal(policy_at_start[key], value) for key, value in plain.ref_policy.state_dict().items())


def test_exact_match_counts_the_reference(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", kl_coef=0.1, seed=0)
    model.set_reference()
    model.save(tmp_path / "model.zip")
    fresh = REINFORCE("MlpPolicy", "CartPole-v1", seed=0)
    fresh.set_parameters(str(tmp_path / "model.zip"), exact_match=True)  # builds a reference to receive it
    assert same_parameters(fresh.ref_policy, model.ref_policy)
    no_reference = REINFORCE("MlpPolicy", "CartPole-v1", seed=0)
    no_reference.save(tmp_path / "plain.zip")
    with pytest.raises(ValueError, match="ref_policy"):
        fresh.set_parameters(str(tmp_path / "plain.zip"), exact_match=True)


def test_reference_from_another_model_or_a_file(tmp_path):
    expert = A2C("MlpPolicy", "CartPole-v1", seed=3)
    expert.save(tmp_path / "a2c.zip")
    model = REINFORCE("MlpPolicy", "CartPole-v1", kl_coef=0.1, seed=0)
    model.set_reference(tmp_path / "a2c.zip")
    assert same_parameters(model.ref_policy, expert.policy)
    model.set_reference(expert)
    assert same_parameters(model.ref_policy, expert.policy) and model.ref_policy is not expert.policy
    with pytest.raises(ValueError, match="reference: its observation_space"):
        model.set_reference(REINFORCE("MlpPolicy", "Pendulum-v1").policy)
    with pytest.raises(ValueError, match="architecture"):
        REINFORCE("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8])).save(tmp_path / "small.zip")
        model.set_reference(tmp_path / "small.zip")
    with pytest.raises(ValueError, match="reference must be"):
        model.set_reference(42)


def test_group_scaling_divides_by_the_group_std():
    """GRPO: with baseline="loo", the weights are (G - loo) / (std of the group's returns at that step)."""
    env = make_grouped_vec_env("CartPole-v1", n_groups=2, group_size=4, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=1, baseline="loo", normalize_advantage="group", seed=0)
    _, callback = model._setup_learn(total_timesteps=1000)
    buffer = model.rollout_buffer
    assert model.collect_rollouts(env, callback, buffer, 1)
    rows, valid = buffer.pos, buffer.valid[: buffer.pos]
    groups = np.repeat(np.arange(2), 4)[None, :].repeat(rows, axis=0)[valid]
    returns, steps = buffer.returns[:rows][valid], buffer.episode_steps[:rows][valid]
    cells = [returns[(groups == g) & (steps == t)] for g, t in zip(groups, steps, strict=True)]
    std = np.array([cell.std(ddof=1) if len(cell) > 1 else 1.0 for cell in cells])
    expected = (returns - buffer.values[:rows][valid]) / (std + 1e-8)
    np.testing.assert_allclose(buffer.advantages[:rows][valid], expected, rtol=1e-5)
    model.train()  # no batch standardization on top
    np.testing.assert_allclose(model._policy_weights(th.as_tensor(expected)).numpy(), expected)


def test_group_std_against_brute_force():
    rng = np.random.default_rng(0)
    returns, steps, groups = rng.normal(size=40), rng.integers(0, 3, 40), rng.integers(0, 4, 40)
    std = group_std(returns, steps, groups)
    for i in range(40):
        cell = returns[(steps == steps[i]) & (groups == groups[i])]
        assert std[i] == pytest.approx(cell.std(ddof=1) if len(cell) > 1 else 1.0)


def test_value_warmup_fits_the_value_only(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, value_warmup_steps=1000, seed=0)
    actor = {key: value.clone() for key, value in model.policy.state_dict().items() if "value" not in key}
    critic = model.policy.value_net.weight.clone()
    values = logged_keys(model, tmp_path, 900)
    assert values["train/value_warmup"] == 1 and "train/policy_loss" not in values
    assert all(th.equal(model.policy.state_dict()[key], value) for key, value in actor.items())
    assert not th.equal(model.policy.value_net.weight, critic)
    model.save(tmp_path / "warm.zip")
    loaded = REINFORCE.load(tmp_path / "warm.zip", env=make_vec_env("CartPole-v1", 1))
    assert loaded._value_warmup_done == model._value_warmup_done > 0
    loaded.learn(1000)
    assert loaded._value_warmup_done >= 1000
    assert not all(th.equal(loaded.policy.state_dict()[key], value) for key, value in actor.items())


def test_kl_with_masks_and_dict_observations():
    masked = MaskableREINFORCE(
        "MlpPolicy", InvalidActionEnvDiscrete(dim=10, ep_length=20, n_invalid_actions=6), n_steps=32, kl_coef=0.2, seed=0
    )
    masked.learn(200)
    assert np.isfinite(masked.rollout_buffer.ref_log_probs).all() and masked.ref_policy is not None
    multi = REINFORCE("MultiInputPolicy", SimpleMultiObsEnv(random_start=True), n_steps=16, kl_coef=0.2, seed=0)
    multi.learn(100)
    assert multi.ref_policy is not None


def test_behaviour_cloning_recovers_an_expert_and_reports_its_likelihood():
    expert = REINFORCE("MlpPolicy", "CartPole-v1", seed=0)
    with th.no_grad():  # a fixed, sharply deterministic expert: push the cart toward the pole's lean
        expert.policy.action_net.weight.zero_()
        expert.policy.action_net.bias.zero_()
        expert.policy.mlp_extractor.policy_net[0].weight.zero_()
    expert.predict = lambda obs, deterministic=True, **_: ((obs[:, 2] + obs[:, 3] > 0).astype(np.int64), None)
    env = make_vec_env("CartPole-v1", 2, seed=0)
    observations, actions, returns = collect_demonstrations(expert, env, n_episodes=4)
    assert len(returns) == 4 and len(observations) == len(actions) and returns.min() > 100
    student = REINFORCE("MlpPolicy", "CartPole-v1", seed=1)
    losses = pretrain_policy(student.policy, observations, actions, n_epochs=30, learning_rate=3e-3, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    predicted, _ = student.predict(observations, deterministic=True)
    assert (predicted == actions).mean() > 0.9
    with pytest.raises(ValueError, match="same number"):
        pretrain_policy(student.policy, observations[:10], actions[:9])
    with pytest.raises(ValueError, match="n_epochs"):
        pretrain_policy(student.policy, observations, actions, n_epochs=0)

"""
REINFORCE's gradient, as its own ``collect_rollouts`` and ``train()`` produce it, against the exact policy gradient of
small finite MDPs (tabular softmax policy), and power checks: deliberately broken estimators must fail the same test.
See docs/estimator.md.
"""

import numpy as np
import pytest
import torch as th

import sb3_reinforce.buffers
import sb3_reinforce.reinforce
from finite_mdp import (
    FiniteMDP,
    average_per_episode,
    FiniteMDPVecEnv,
    compare,
    expected_gradient,
    fit_value_before_weights,
    group_mean_baseline,
    reinforce_gradients,
    reverse_kl_gradient,
)
from stable_baselines3.common.vec_env import VecEnv
from sb3_reinforce import REINFORCE

N_ENVS = 2048  # episodes per rollout (one per env with n_steps=1)
N_ROLLOUTS = 32
MAX_Z = 4.0  # every coordinate within 4 standard errors
MIN_COSINE = 0.99

MDPS = {
    "terminating": FiniteMDP.random(seed=0, n_states=4, n_actions=3, terminate=0.25),
    "time_limit": FiniteMDP.random(seed=1, n_states=5, n_actions=2, terminate=0.1, time_limit=6),
}
SEQUENCE = FiniteMDP.sequence(seed=4)  # fixed-length episodes scored at their end, as generated text
GROUP_SIZE = 4


def make_model(
    mdp: FiniteMDP, gamma: float, baseline: str, n_steps: int = 1, seed: int = 0, group_size: int | None = None, **kwargs
) -> tuple[REINFORCE, VecEnv]:
    env = FiniteMDPVecEnv(mdp, N_ENVS, seed=seed, group_size=group_size)
    hyperparams = dict(
        n_steps=n_steps,
        gamma=gamma,
        baseline=baseline,
        normalize_advantage=False,
        rollout_mode="discard",
        vf_coef=0.0,  # a value baseline is held fixed (at its random initialization) unless kwargs fit it
        n_value_epochs=0,
        max_grad_norm=None,
        policy_kwargs=dict(net_arch=[]),  # logits linear in the one-hot state: a tabular softmax
    )
    model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", **{**hyperparams, **kwargs})
    with th.no_grad():  # move away from the uniform policy so the gradient has structure
        generator = th.Generator().manual_seed(seed)
        for parameter in model.policy.action_net.parameters():
            parameter.copy_(th.randn(parameter.shape, generator=generator))
    return model, env


@pytest.mark.parametrize("mdp_name", list(MDPS))
@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("baseline", ["none", "mean", "value", "loo"])
def test_unbiased_against_exact_gradient(mdp_name, gamma, baseline):
    """
    The mean gradient over independent rollouts matches the exact expectation of the loss's gradient: for gamma = 1 the
    true policy gradient, for gamma < 1 the same without the gamma^t factor (the convention of the loss).
    The batch-mean baseline has an O(1/N) bias (the mean includes each step's own return); with N ~ 10^4 steps per
    batch it is far below the standard errors here.
    """
    mdp = MDPS[mdp_name]
    model, env = make_model(mdp, gamma, baseline)
    surrogate, true_gradient = expected_gradient(model, mdp)
    if gamma == 1.0:
        np.testing.assert_allclose(surrogate, true_gradient, rtol=1e-8, atol=1e-10)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


def test_discounted_loss_is_not_the_gradient_of_the_discounted_objective():
    """With gamma < 1 the loss omits gamma^t: the estimate matches the surrogate, and measurably misses grad J_gamma."""
    mdp = FiniteMDP.random(seed=2, n_states=3, n_actions=2, terminate=0.05)
    model, env = make_model(mdp, gamma=0.5, baseline="none")
    surrogate, true_gradient = expected_gradient(model, mdp)
    estimates = reinforce_gradients(model, env, N_ROLLOUTS)
    assert compare(estimates, surrogate)[0] < MAX_Z
    assert compare(estimates, true_gradient)[0] > 2 * MAX_Z


@pytest.mark.parametrize("mdp_name", list(MDPS))
def test_several_episodes_per_env(mdp_name):
    """Rollouts of n_steps=4 hold several episodes per env (rescaled per episode): still unbiased (up to O(1/envs))."""
    mdp = MDPS[mdp_name]
    model, env = make_model(mdp, gamma=1.0, baseline="value", n_steps=4)
    surrogate, _ = expected_gradient(model, mdp)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


# The value fit (several passes per rollout, its own optimizer) and the step-size safeguard. The fit moves V between
# rollouts (the optimizer step of the policy is captured, so the policy stays put), and each rollout's weights use V as
# it was before that rollout's fit: a baseline that does not depend on the rollout's actions.
FIT = dict(n_value_epochs=5, vf_learning_rate=0.05, value_batch_size=256, target_kl=0.01)


@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("n_steps", [1, 4])
def test_unbiased_with_value_fit(gamma, n_steps):
    mdp = MDPS["terminating"]  # no time limit: the target does not depend on V (no bootstrap)
    model, env = make_model(mdp, gamma, "value", n_steps=n_steps, **FIT)
    value_before = model.policy.value_net.weight.detach().clone()
    surrogate, _ = expected_gradient(model, mdp)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)
    assert not th.equal(model.policy.value_net.weight, value_before)  # the value was fitted along the way


def test_value_fit_on_the_same_returns_first():
    """
    Fitting V on a rollout's own returns before subtracting it is biased only through each state's in-batch mean,
    which includes the step's own return: a shrinkage of O(1 / visits of the state in the batch), about 1/2000 here.
    That is far below the standard errors (docs/estimator.md measures it): the order matters for function
    approximators that can fit single returns, not for a tabular V on a large batch. The test pins that the
    wrong order is not detectable here, so that the claim in the doc stays true.
    """
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, 1.0, "value", **FIT)
    fit_value_before_weights(model)
    surrogate, _ = expected_gradient(model, mdp)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


# The leave-one-out baseline with groups: blocks of GROUP_SIZE envs start from a shared state (reset) and name their
# group in the last info, so each episode's baseline is the mean return of the other episodes of its group (RLOO).


@pytest.mark.parametrize(
    "mdp_name,gamma,n_steps",
    [("terminating", 1.0, 1), ("terminating", 0.9, 4), ("time_limit", 1.0, 4), ("sequence", 1.0, 1)],
)
def test_leave_one_out_with_groups(mdp_name, gamma, n_steps):
    """
    Unbiased with groups of 4: with n_steps=1, one episode per env from the group's shared start state; with n_steps=4,
    several episodes per env (the later ones from independent starts), the group's episodes of the same env included.
    """
    mdp = SEQUENCE if mdp_name == "sequence" else MDPS[mdp_name]
    model, env = make_model(mdp, gamma, "loo", n_steps=n_steps, group_size=GROUP_SIZE)
    surrogate, _ = expected_gradient(model, mdp)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


def test_mean_over_a_group_is_leave_one_out_scaled(monkeypatch):
    """
    The "mean" baseline over a group of k episodes includes each episode's own return. For a score given at the end
    of fixed-length episodes (gamma 1), ``R_i - mean_group = (1 - 1/k) (R_i - mean_others)``: exactly the leave-one-out
    weights scaled by 0.75 here. The z-test rejects it (biased by -25%), the cosine cannot see it, and rescaled by
    1 / (1 - 1/k) it passes. docs/estimator.md measures what the own episode's other steps add on reward-to-go.
    """
    model, env = make_model(SEQUENCE, 1.0, "loo", group_size=GROUP_SIZE)
    surrogate, _ = expected_gradient(model, SEQUENCE)
    monkeypatch.setattr(sb3_reinforce.reinforce, "leave_one_out_baseline", group_mean_baseline)
    estimates = reinforce_gradients(model, env, N_ROLLOUTS)
    max_z, cosine = compare(estimates, surrogate)
    assert max_z > 2 * MAX_Z and cosine > MIN_COSINE, (max_z, cosine)
    max_z, cosine = compare(estimates / (1 - 1 / GROUP_SIZE), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


# Power checks: the same comparison must reject deliberately wrong estimators.


def test_power_returns_cut_at_rollout_boundary():
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, gamma=1.0, baseline="none")
    model.rollout_mode = "bootstrap"  # stop at n_steps; without a value baseline the cut returns just end there
    model.n_steps = 2
    surrogate, _ = expected_gradient(model, mdp)
    max_z, _ = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z > 2 * MAX_Z


def test_power_returns_not_reset_at_episode_starts(monkeypatch):
    """
    Episodes restart independently, so a return that runs on into the next episodes only biases the estimate through
    the rollout's stopping rule (how many episodes follow within the rollout depends on this episode's length, hence
    on its actions). This MDP makes that dependence strong: action 0 ends the episode w.p. 0.5 per step, action 1 w.p.
    0.05, and rewards are positive. The correct estimator passes on it; the broken one fails.
    """
    base = FiniteMDP.random(seed=3, n_states=3, n_actions=2)
    p_terminate = np.broadcast_to(np.array([0.5, 0.05])[None, :, None], (3, 2, 1))
    moves = base.transitions[:, :, :3] / base.transitions[:, :, :3].sum(axis=2, keepdims=True) * (1 - p_terminate)
    mdp = FiniteMDP(np.concatenate([moves, p_terminate], axis=2), base.rewards + 1.0, base.initial)
    model, env = make_model(mdp, gamma=1.0, baseline="none", n_steps=8)
    surrogate, _ = expected_gradient(model, mdp)
    assert compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)[0] < MAX_Z
    discounted_returns = sb3_reinforce.buffers.discounted_returns
    monkeypatch.setattr(
        sb3_reinforce.buffers, "discounted_returns", lambda rewards, ends, gamma: discounted_returns(rewards, 0 * ends, gamma)
    )
    max_z, _ = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z > 2 * MAX_Z


def test_power_action_dependent_baseline(monkeypatch):
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, gamma=1.0, baseline="none")
    compute_baseline = model._compute_baseline

    def action_dependent(buffer):
        compute_baseline(buffer)
        buffer.advantages[: buffer.pos] -= buffer.actions[: buffer.pos, :, 0]

    monkeypatch.setattr(model, "_compute_baseline", action_dependent)
    surrogate, _ = expected_gradient(model, mdp)
    max_z, _ = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z > 2 * MAX_Z


# The KL penalty to a frozen reference policy (kl_coef = beta). In the reward (k1 of the behaviour policy, so it enters
# the Monte Carlo returns), the update is an unbiased estimate of the gradient of J(pi) - beta KL(pi || pi_ref): the
# penalty's own dependence on pi adds -beta E[grad log pi] = 0. As a k3 loss term (GRPO), its expectation is the
# gradient of the visit-weighted KL(pi_ref || pi) instead.
KL_COEF = 0.5


def with_reference(model: REINFORCE, seed: int = 0) -> REINFORCE:
    """Take the reference from the policy as it is, then move the policy's logits elsewhere: pi and pi_ref differ."""
    model.set_reference()
    with th.no_grad():
        generator = th.Generator().manual_seed(1000 + seed)
        for parameter in model.policy.action_net.parameters():
            parameter.copy_(th.randn(parameter.shape, generator=generator))
    return model


@pytest.mark.parametrize("mdp_name", list(MDPS))
@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("baseline", ["none", "value", "loo"])
def test_kl_in_reward_matches_the_regularized_gradient(mdp_name, gamma, baseline):
    """
    With gamma 1 the expectation of the KL-in-reward estimator is exactly grad [J - beta KL(pi || pi_ref)] (the
    dynamic program differentiated through the penalty as well), and the estimates match it; the unpenalized gradient
    is far from it (the penalty matters here).
    """
    mdp = MDPS[mdp_name]
    model, env = make_model(mdp, gamma, baseline, kl_coef=KL_COEF)
    with_reference(model)
    surrogate, true_gradient = expected_gradient(model, mdp)
    if gamma == 1.0:
        np.testing.assert_allclose(surrogate, true_gradient, rtol=1e-8, atol=1e-10)
    estimates = reinforce_gradients(model, env, N_ROLLOUTS)
    max_z, cosine = compare(estimates, surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)
    model.kl_coef = 0.0
    assert compare(estimates, expected_gradient(model, mdp)[0])[0] > 2 * MAX_Z


def test_kl_in_reward_with_groups():
    """RLOO with the penalty in the reward (TRL's RLOOTrainer): unbiased for the regularized objective on sequences."""
    model, env = make_model(SEQUENCE, 1.0, "loo", group_size=GROUP_SIZE, kl_coef=KL_COEF)
    with_reference(model)
    surrogate, true_gradient = expected_gradient(model, SEQUENCE)
    np.testing.assert_allclose(surrogate, true_gradient, rtol=1e-8, atol=1e-10)
    max_z, cosine = compare(reinforce_gradients(model, env, N_ROLLOUTS), surrogate)
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)


def test_kl_as_a_k3_loss_is_the_reverse_kl_gradient():
    """
    ``kl_penalty="loss"``: the expectation is grad J - beta grad sum_s visits(s) KL(pi_ref || pi)(s) (exact), not the
    gradient of the regularized objective, which the same estimates miss.
    """
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, 1.0, "none", kl_coef=KL_COEF, kl_penalty="loss")
    with_reference(model)
    unpenalized, _ = expected_gradient(model, mdp)  # the loss's KL term is not in the rewards
    estimates = reinforce_gradients(model, env, N_ROLLOUTS)
    max_z, cosine = compare(estimates, unpenalized - KL_COEF * reverse_kl_gradient(model, mdp))
    assert max_z < MAX_Z and cosine > MIN_COSINE, (max_z, cosine)
    model.kl_penalty = "reward"
    assert compare(estimates, expected_gradient(model, mdp)[1])[0] > 2 * MAX_Z


def test_power_kl_gradient_dropped(monkeypatch):
    """The penalty computed but left out of the returns: the estimates miss grad [J - beta KL]."""
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, 1.0, "none", kl_coef=KL_COEF)
    with_reference(model)
    _, regularized = expected_gradient(model, mdp)
    monkeypatch.setattr(sb3_reinforce.buffers.EpisodeBufferMixin, "penalize_rewards", lambda self, penalty: None)
    max_z, _ = compare(reinforce_gradients(model, env, N_ROLLOUTS), regularized)
    assert max_z > 2 * MAX_Z


def test_power_reference_not_frozen():
    """A reference that is the live policy (not a frozen copy) makes every penalty 0: the estimates miss grad [J - beta KL]."""
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, 1.0, "none", kl_coef=KL_COEF)
    with_reference(model)
    _, regularized = expected_gradient(model, mdp)
    model.ref_policy = model.policy
    max_z, _ = compare(reinforce_gradients(model, env, N_ROLLOUTS), regularized)
    assert max_z > 2 * MAX_Z


def test_power_loss_averaged_per_episode():
    """
    GRPO's aggregation (each episode's steps weighted by 1 / its length, Dr. GRPO's length bias) turns the direction of
    the estimate on episodes of varying length: rejected even after rescaling. REINFORCE averages per step (unbiased).
    """
    mdp = MDPS["terminating"]
    model, env = make_model(mdp, 1.0, "loo", group_size=GROUP_SIZE)
    average_per_episode(model)
    surrogate, _ = expected_gradient(model, mdp)
    estimates = reinforce_gradients(model, env, N_ROLLOUTS)
    mean = estimates.mean(axis=0)
    max_z, _ = compare(estimates * (surrogate @ surrogate) / (mean @ surrogate), surrogate)
    assert max_z > 2 * MAX_Z

"""
Variance of REINFORCE's gradient estimate per baseline, on one small finite MDP (the "terminating" MDP of
tests/test_estimator.py with every reward shifted by ``--reward-offset``, gamma = 1), each estimate from the same number
of episodes, against the exact gradient.

    python benchmarks/estimator_variance.py

Prints the markdown tables of docs/estimator.md: the variance per baseline, then how the batch mean taken over a group
of k episodes (its own episode included) differs from the leave-one-out mean (on the terminating MDP, reward-to-go,
and on a sequence MDP scored at the end of fixed-length episodes), from 32 rollouts of 2048 episodes as in the tests,
and last the bias of GRPO's choices: the group's std divided out (``normalize_advantage="group"``) and the loss averaged
per episode (each episode's steps weighted by 1 / its length) rather than per step.
"""

import argparse
import os
import sys

import numpy as np
import torch as th

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from finite_mdp import (
    FiniteMDP,
    FiniteMDPVecEnv,
    average_per_episode,
    compare,
    expected_gradient,
    fit_value_before_weights,
    group_mean_baseline,
    reinforce_gradients,
)
from test_estimator import GROUP_SIZE, MDPS, N_ROLLOUTS, SEQUENCE, make_model

import sb3_reinforce.reinforce
from sb3_reinforce import REINFORCE

VARIANTS = {
    # name: (baseline, normalize_advantage, value head set to the exact V^pi, value fit: None, "after" or "before",
    # group size: None or the envs per group, sharing their start state)
    "none (plain REINFORCE)": ("none", False, False, None, None),
    "mean (batch mean return)": ("mean", False, False, None, None),
    "loo (leave-one-out: the other episodes of the batch)": ("loo", False, False, None, None),
    f"loo, groups of {GROUP_SIZE} sharing their start state (RLOO)": ("loo", False, False, None, GROUP_SIZE),
    "value, held at its random initialization": ("value", False, False, None, None),
    "value, set to the exact V^pi": ("value", False, True, None, None),
    "value, fitted after each rollout's weights (n_value_epochs=5)": ("value", False, False, "after", None),
    "value, fitted on each rollout before its weights (wrong order)": ("value", False, False, "before", None),
    "none + standardized (classic recipe)": ("none", True, False, None, None),
    "value (exact V^pi) + standardized": ("value", True, True, None, None),
}
# The value fit of the "fitted" rows: V is tabular here (linear in the one-hot state), so a large step size is safe
FIT = dict(n_value_epochs=5, vf_learning_rate=0.05, value_batch_size=64)


def exact_values(model: REINFORCE, mdp: FiniteMDP) -> np.ndarray:
    """V^pi(s) of the current policy, gamma = 1, for a terminating MDP without time limit."""
    with th.no_grad():
        probs = model.policy.get_distribution(th.eye(mdp.n_states)).distribution.probs.double().numpy()
    flow = np.einsum("sa,sat->st", probs, mdp.transitions[:, :, : mdp.n_states])
    return np.linalg.solve(np.eye(mdp.n_states) - flow, (probs * mdp.rewards).sum(1))


def measure(name: str, episodes: int, estimates: int, seed: int, reward_offset: float) -> dict[str, float]:
    baseline, normalize, exact_value, fit, group_size = VARIANTS[name]
    terminating = MDPS["terminating"]
    mdp = FiniteMDP(terminating.transitions, terminating.rewards + reward_offset, terminating.initial)
    env = FiniteMDPVecEnv(mdp, episodes, seed=seed, group_size=group_size)
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=1,
        gamma=1.0,
        baseline=baseline,
        normalize_advantage=normalize,
        vf_coef=0.0,
        **(FIT if fit else dict(n_value_epochs=0)),
        policy_kwargs=dict(net_arch=[]),
        seed=seed,
        device="cpu",
    )
    with th.no_grad():  # the same policy as the tests
        generator = th.Generator().manual_seed(0)
        for parameter in model.policy.action_net.parameters():
            parameter.copy_(th.randn(parameter.shape, generator=generator))
        if exact_value:
            model.policy.value_net.weight.copy_(th.as_tensor(exact_values(model, mdp), dtype=th.float32)[None])
            model.policy.value_net.bias.zero_()
    if fit == "before":
        fit_value_before_weights(model)
    exact, _ = expected_gradient(model, mdp)
    samples = reinforce_gradients(model, env, estimates)
    mean = samples.mean(axis=0)
    variance = samples.var(axis=0, ddof=1).sum()  # trace of the covariance of one estimate
    return dict(
        variance=variance,
        relative=variance / (mean @ mean),
        cosine=mean @ exact / (np.linalg.norm(mean) * np.linalg.norm(exact)),
        scale=np.linalg.norm(mean) / np.linalg.norm(exact),
    )


def mean_against_leave_one_out(mdp: FiniteMDP, seed: int) -> dict[str, tuple[float, float, float]]:
    """
    Per baseline (the leave-one-out mean over groups of GROUP_SIZE, and the batch mean over each group, own episode
    included): max |z| against the exact gradient, cosine, and norm / exact norm, on 32 rollouts of 2048 episodes.
    """
    results = {}
    for name, function in (("loo", None), ("mean over the group", group_mean_baseline)):
        model, env = make_model(mdp, 1.0, "loo", seed=seed, group_size=GROUP_SIZE)
        if function is not None:
            sb3_reinforce.reinforce.leave_one_out_baseline = function  # type: ignore[assignment]
        try:
            exact, _ = expected_gradient(model, mdp)
            estimates = reinforce_gradients(model, env, N_ROLLOUTS)
        finally:
            sb3_reinforce.reinforce.leave_one_out_baseline = LEAVE_ONE_OUT
        max_z, cosine = compare(estimates, exact)
        results[name] = (max_z, cosine, float(np.linalg.norm(estimates.mean(axis=0)) / np.linalg.norm(exact)))
    return results


LEAVE_ONE_OUT = sb3_reinforce.reinforce.leave_one_out_baseline


def scaling_and_aggregation(seed: int) -> list[tuple[str, str, float, float, float, float]]:
    """
    RLOO against GRPO's std scaling and per-episode averaging, groups of GROUP_SIZE: max |z| against the exact gradient,
    the same after the mean estimate is rescaled onto it (a bias of direction only), cosine, norm / exact norm.
    """
    cases = [
        ("sequence (scored at the end)", SEQUENCE, "loo (RLOO)", {}),
        ("sequence (scored at the end)", SEQUENCE, "loo + group std (GRPO)", dict(normalize_advantage="group")),
        ("terminating (reward-to-go)", MDPS["terminating"], "loo (RLOO)", {}),
        ("terminating (reward-to-go)", MDPS["terminating"], "loo + group std (GRPO)", dict(normalize_advantage="group")),
        ("terminating (reward-to-go)", MDPS["terminating"], "loo, loss averaged per episode", dict(per_episode=True)),
    ]
    results = []
    for label, mdp, name, kwargs in cases:
        per_episode = kwargs.pop("per_episode", False)
        model, env = make_model(mdp, 1.0, "loo", seed=seed, group_size=GROUP_SIZE, **kwargs)
        if per_episode:
            average_per_episode(model)
        exact, _ = expected_gradient(model, mdp)
        estimates = reinforce_gradients(model, env, N_ROLLOUTS)
        mean = estimates.mean(axis=0)
        max_z, cosine = compare(estimates, exact)
        rescaled_z, _ = compare(estimates * (exact @ exact) / (mean @ exact), exact)
        results.append((label, name, max_z, rescaled_z, cosine, float(np.linalg.norm(mean) / np.linalg.norm(exact))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=64, help="episodes per gradient estimate")
    parser.add_argument("--estimates", type=int, default=400, help="independent estimates per baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reward-offset", type=float, default=2.0, help="added to every reward (positive rewards)")
    args = parser.parse_args()
    th.set_num_threads(1)
    print(f"{args.estimates} estimates of {args.episodes} episodes each, per baseline, rewards + {args.reward_offset}.\n")
    print("| baseline | variance (trace of covariance) | variance / squared norm of mean | cosine to exact | norm / exact |")
    print("|---|---|---|---|---|")
    for name in VARIANTS:
        r = measure(name, args.episodes, args.estimates, args.seed, args.reward_offset)
        print(f"| {name} | {r['variance']:.4g} | {r['relative']:.3g} | {r['cosine']:.4f} | {r['scale']:.3g} |")
    print(f"\nGroups of {GROUP_SIZE} sharing their start state, gamma = 1, {N_ROLLOUTS} rollouts of 2048 episodes.\n")
    print("| MDP | baseline | max abs z-score | cosine to exact | norm / exact |")
    print("|---|---|---|---|---|")
    for label, mdp in (("terminating (reward-to-go)", MDPS["terminating"]), ("sequence (scored at the end)", SEQUENCE)):
        for name, (max_z, cosine, scale) in mean_against_leave_one_out(mdp, args.seed).items():
            print(f"| {label} | {name} | {max_z:.2f} | {cosine:.5f} | {scale:.3f} |")
    print(f"\nGRPO's choices against RLOO, groups of {GROUP_SIZE}, gamma = 1, {N_ROLLOUTS} rollouts of 2048 episodes.\n")
    print("| MDP | estimator | max abs z-score | max abs z-score, rescaled onto the exact | cosine to exact | norm / exact |")
    print("|---|---|---|---|---|---|")
    for label, name, max_z, rescaled_z, cosine, scale in scaling_and_aggregation(args.seed):
        print(f"| {label} | {name} | {max_z:.2f} | {rescaled_z:.2f} | {cosine:.5f} | {scale:.3f} |")


if __name__ == "__main__":
    main()

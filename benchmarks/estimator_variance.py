"""
Variance of REINFORCE's gradient estimate per baseline, on one small finite MDP (the "terminating" MDP of
tests/test_estimator.py with every reward shifted by ``--reward-offset``, gamma = 1), each estimate from the same number
of episodes, against the exact gradient.

    python benchmarks/estimator_variance.py

Prints the markdown table of docs/estimator.md.
"""

import argparse
import os
import sys

import numpy as np
import torch as th

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from finite_mdp import FiniteMDP, FiniteMDPVecEnv, expected_gradient, fit_value_before_weights, reinforce_gradients
from test_estimator import MDPS

from sb3_reinforce import REINFORCE

VARIANTS = {
    # name: (baseline, normalize_advantage, value head set to the exact V^pi, value fit: None, "after" or "before")
    "none (plain REINFORCE)": ("none", False, False, None),
    "mean (batch mean return)": ("mean", False, False, None),
    "value, held at its random initialization": ("value", False, False, None),
    "value, set to the exact V^pi": ("value", False, True, None),
    "value, fitted after each rollout's weights (n_value_epochs=5)": ("value", False, False, "after"),
    "value, fitted on each rollout before its weights (wrong order)": ("value", False, False, "before"),
    "none + standardized (classic recipe)": ("none", True, False, None),
    "value (exact V^pi) + standardized": ("value", True, True, None),
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
    baseline, normalize, exact_value, fit = VARIANTS[name]
    terminating = MDPS["terminating"]
    mdp = FiniteMDP(terminating.transitions, terminating.rewards + reward_offset, terminating.initial)
    env = FiniteMDPVecEnv(mdp, episodes, seed=seed)
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


if __name__ == "__main__":
    main()

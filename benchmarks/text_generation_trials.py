"""
One-seed trials of the text-generation example's settings (issue "Text generation as the field does it now"): the
baseline (value or leave-one-out with groups of k envs sharing each prompt), free or grammar-masked generation, the
learning rate, the entropy bonus, the policy's head, the budget and the reward's near-miss credit. Each trial trains
one model as ``examples/text_generation.py`` does and scores it the same way (held-out success of sampled sequences,
200 per held-out target, and 50 per training target), with the held-out success at each quarter of the budget.

    python benchmarks/text_generation_trials.py --masked 1 --baseline loo --k 8 --lr 1e-2
    python benchmarks/text_generation_trials.py --report-only

Each trial appends one JSON line to benchmarks/results/text_generation_trials.jsonl. Trials are single seeds: the
spread between seeds of one setting is as large as most differences here (see examples/results/text_generation for
10-seed figures); they point at causes, they do not rank settings.
"""

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import set_random_seed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import examples.text_generation as tg
from sb3_reinforce import REINFORCE, MaskableREINFORCE, make_grouped_vec_env

RESULTS = os.path.join(os.path.dirname(__file__), "results", "text_generation_trials.jsonl")


def overlap_reward(value: Any, target: Any) -> Any:
    """The example's reward without its closeness credit: 1 on a hit, 0.5 * digit overlap for a well-formed miss."""
    value = np.asarray(np.nan if value is None else value, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    malformed = np.isnan(value)
    value = np.where(malformed, -1.0, value)
    reward = np.where(malformed, 0.0, np.where(value == target, 1.0, 0.5 * tg.digit_overlap(value, target)))
    return float(reward) if reward.ndim == 0 else reward


class TiedHead(th.nn.Module):
    """Logits as the dot product of a projection of the policy's latent with the token embeddings (a copy bias)."""

    def __init__(self, embedding: th.nn.Embedding, latent_dim: int):
        super().__init__()
        self.embedding = embedding
        self.project = th.nn.Linear(latent_dim, embedding.embedding_dim)
        self.bias = th.nn.Parameter(th.zeros(tg.N_ACTIONS))

    def forward(self, latent: th.Tensor) -> th.Tensor:
        return self.project(latent) @ self.embedding.weight[: tg.N_ACTIONS].T + self.bias


class JointExtractor(tg.TokenGRUExtractor):
    """
    The example's features before ``--factored`` trials: a GRU over the prompt and the written tokens, the remaining
    count and the prompt's embeddings, which a hidden layer of the policy head can combine into a code of the target.
    """

    def __init__(self, observation_space: Any, **kwargs: Any):
        super().__init__(observation_space, **kwargs)
        self._features_dim = self.gru.hidden_size + self.max_remaining + 1 + self.prompt_length * self.embedding.embedding_dim

    def forward(self, observations: th.Tensor) -> th.Tensor:
        tokens = observations.long()
        n_real = (tokens != self.pad).sum(dim=1)
        outputs, _ = self.gru(self.embedding(tokens))
        last = outputs[th.arange(len(tokens), device=tokens.device), n_real - 1]
        remaining = th.nn.functional.one_hot(tokens.shape[1] - n_real, self.max_remaining + 1).float()
        prompt = self.embedding(tokens[:, : self.prompt_length]).flatten(start_dim=1)
        return th.cat([last, remaining, prompt], dim=1)


def make_model(args: argparse.Namespace) -> REINFORCE:
    env_kwargs = {"length": tg.DEFAULT_LENGTH}
    if args.k > 1:
        env = make_grouped_vec_env(
            tg.ArithmeticExpressionEnv, args.n_envs // args.k, args.k, seed=args.seed, env_kwargs=env_kwargs
        )
    else:
        env = make_vec_env(tg.ArithmeticExpressionEnv, n_envs=args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
    policy_kwargs = {
        "features_extractor_class": tg.TokenGRUExtractor if args.factored else JointExtractor,
        "net_arch": {"pi": [int(size) for size in args.pi.split(",") if size], "vf": [64]},
    }
    model = (MaskableREINFORCE if args.masked else REINFORCE)(
        "MlpPolicy",
        env,
        learning_rate=args.lr,
        n_steps=tg.DEFAULT_LENGTH,
        gamma=1.0,
        baseline=args.baseline,
        ent_coef=args.ent,
        normalize_advantage=bool(args.norm),
        policy_kwargs=policy_kwargs,
        seed=args.seed,
        device="cpu",
    )
    if args.tied:
        policy = model.policy
        policy.action_net = TiedHead(policy.features_extractor.embedding, policy.mlp_extractor.latent_dim_pi)
        policy.optimizer = policy.optimizer_class(policy.parameters(), lr=args.lr, **policy.optimizer_kwargs)
        model._setup_value_fit()  # the parameter lists changed
    return model


def trial(args: argparse.Namespace) -> dict[str, Any]:
    th.set_num_threads(1)
    if args.reward == "overlap":
        tg.expression_reward = overlap_reward  # the env calls the module's function
    set_random_seed(args.seed)
    model = make_model(args)
    masked, start, curve = bool(args.masked), time.time(), []
    for quarter in range(4):
        model.learn(args.steps // 4, reset_num_timesteps=False)
        set_random_seed(args.seed + 1000 + quarter)
        curve.append(round(tg.success_and_reward(model, tg.HELD_OUT_TARGETS, 50, masked)[0], 3))
    set_random_seed(args.seed + 1000)
    held_out, reward = tg.success_and_reward(model, tg.HELD_OUT_TARGETS, 200, masked)
    train, _ = tg.success_and_reward(model, tg.TRAIN_TARGETS, 50, masked)
    _, sequences, _ = tg.sample_expressions(model, tg.HELD_OUT_TARGETS[:6], 1, masked, deterministic=True)
    settings = {key: value for key, value in vars(args).items() if key != "report_only"}
    return dict(
        settings,
        held=round(held_out, 3),
        held_reward=round(reward, 3),
        train=round(train, 3),
        curve=curve,
        secs=round(time.time() - start),
        greedy=[tg.render_tokens(tokens) for tokens in sequences],
    )


def report() -> None:
    print("| masked | baseline | k | lr | ent | steps | other | held-out | training targets | held-out at each quarter |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with open(RESULTS) as file:
        for line in file:
            row = json.loads(line)
            other = [f"{key}={row[key]}" for key, default in DEFAULTS.items() if key in row and row[key] != default]
            print(
                f"| {row['masked']} | {row['baseline']} | {row['k']} | {row['lr']:g} | {row['ent']:g} | {row['steps']:,} "
                f"| {' '.join(other) or '-'} | {row['held']:.3f} | {row['train']:.3f} | {row['curve']} |"
            )


DEFAULTS = dict(seed=0, n_envs=64, norm=1, pi="64", reward="current", tied=0, factored=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masked", type=int, default=0, help="1: MaskableREINFORCE with the grammar masks")
    parser.add_argument("--baseline", default="value", choices=["value", "loo", "mean", "none"])
    parser.add_argument("--k", type=int, default=1, help="envs per group sharing each prompt (1: no groups)")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--ent", type=float, default=0.03)
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--n-envs", type=int, default=DEFAULTS["n_envs"])
    parser.add_argument("--norm", type=int, default=DEFAULTS["norm"], help="normalize_advantage")
    parser.add_argument("--pi", default=DEFAULTS["pi"], help="policy head's hidden sizes, comma separated ('' for none)")
    parser.add_argument("--reward", default=DEFAULTS["reward"], choices=["current", "overlap"])
    parser.add_argument("--tied", type=int, default=DEFAULTS["tied"], help="1: logits tied to the token embeddings")
    parser.add_argument(
        "--factored", type=int, default=DEFAULTS["factored"], help="1: the example's TokenGRUExtractor (0: JointExtractor)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        result = trial(args)
        print(json.dumps(result), flush=True)
        with open(RESULTS, "a") as file:
            file.write(json.dumps(result) + "\n")
    report()


if __name__ == "__main__":
    main()

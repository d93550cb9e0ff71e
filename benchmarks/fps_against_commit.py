"""
REINFORCE's env steps per second in this checkout against an earlier commit's package, measured interleaved: each
repetition trains every row once with each version (in fresh processes, alternating which goes first), so that a busy
machine slows both alike, and the ratio is computed within the repetition.

    python benchmarks/fps_against_commit.py --commit 0899634 --repetitions 5

The earlier commit is checked out with ``git worktree`` into a temporary folder; both versions run with the packages
of this environment. Extra keyword arguments for this checkout's REINFORCE only (options the old one lacks) are given
per row below.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (env id, n_envs, n_steps, env steps per measurement, keyword arguments, keyword arguments for this checkout only)
ROWS = [
    ("CartPole-v1", 8, 128, 16_000, {}, dict(n_value_epochs=0)),
    ("CartPole-v1", 8, 128, 16_000, {}, {}),
    ("CartPole-v1", 1, 128, 4_000, {}, dict(n_value_epochs=0)),
    ("Pendulum-v1", 8, 128, 12_000, {}, dict(n_value_epochs=0)),
    ("Pendulum-v1", 8, 128, 12_000, {}, {}),
    ("CartPole-v1", 8, 128, 16_000, {}, dict(kl_coef=0.05)),  # the KL penalty on: its cost (the old one has none)
]
MEASURE = """
import json, sys, time, warnings
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from sb3_reinforce import REINFORCE
warnings.filterwarnings("ignore")
th.set_num_threads(1)
env_id, n_envs, n_steps, budget, kwargs = json.loads(sys.argv[1])
model = REINFORCE("MlpPolicy", make_vec_env(env_id, n_envs=n_envs, seed=0), n_steps=n_steps, seed=0, device="cpu", **kwargs)
start = time.perf_counter()
model.learn(budget)
print(model.num_timesteps / (time.perf_counter() - start))
"""


def fps(source: str, row: tuple, new: bool) -> float:
    env_id, n_envs, n_steps, budget, kwargs, new_kwargs = row
    arguments = json.dumps([env_id, n_envs, n_steps, budget, {**kwargs, **(new_kwargs if new else {})}])
    environment = {**os.environ, "PYTHONPATH": source}
    result = subprocess.run([sys.executable, "-c", MEASURE, arguments], cwd=source, env=environment, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-2000:])
    return float(result.stdout.decode().split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", required=True, help="the earlier commit to compare with")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        old = os.path.join(folder, "old")
        subprocess.run(["git", "worktree", "add", "--detach", old, args.commit], cwd=ROOT, check=True, capture_output=True)
        try:
            results: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(ROWS))}
            for rep in range(args.repetitions):
                for i, row in enumerate(ROWS):
                    order = [(old, False), (ROOT, True)][:: 1 if rep % 2 == 0 else -1]
                    measured = {new: fps(source, row, new) for source, new in order}
                    results[i].append((measured[False], measured[True]))
                print(f"repetition {rep + 1}/{args.repetitions} done", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=True)
    print(f"| env | n_envs | n_steps | options of this checkout | {args.commit} (fps) | this checkout (fps) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for i, (env_id, n_envs, n_steps, _, _, new_kwargs) in enumerate(ROWS):
        before, after = np.array(results[i]).T
        ratios = after / before
        options = ", ".join(f"{key}={value}" for key, value in new_kwargs.items()) or "defaults"
        print(
            f"| {env_id} | {n_envs} | {n_steps} | {options} | {np.median(before):,.0f} | {np.median(after):,.0f} "
            f"| {np.median(ratios):.2f} [{ratios.min():.2f} - {ratios.max():.2f}] |"
        )


if __name__ == "__main__":
    main()

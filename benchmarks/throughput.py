"""
Throughput of REINFORCE beside A2C and PPO, the limits set by the env and the policy, the cost of the return
computation and of ``train()``, and the memory of a long run: the tables of docs/performance.md.

    python benchmarks/throughput.py --output benchmarks/results/throughput.md   # full run, about 6 minutes on 2 cores
    python benchmarks/throughput.py --quick                                     # smoke run, about 1.5 minutes

In the throughput table every column of a row trains or runs the same env, with the same number of envs, the
same network (SB3's default for the policy) and the same ``n_steps``, from the same seed. Within a repetition
every measurement of every row runs once, one after the other, in an order that rotates between repetitions, so
that a busy machine slows all of them alike; each ratio is computed within a repetition, then summarized over the
repetitions (median and range). torch runs on the CPU with one thread (``th.set_num_threads(1)``).

Sections (``--sections``, all by default):

- ``throughput``: env steps per second of ``learn()`` for A2C, PPO and three REINFORCE configurations, and of
  three loops without learning: ``VecEnv.step`` with random actions, the actor's forward pass (what REINFORCE
  needs to act) + ``VecEnv.step``, the actor's and the critic's forward pass (what A2C and PPO compute at every
  step) + ``VecEnv.step``.
- ``breakdown``: where the time of ``REINFORCE.learn`` goes on CartPole-v1 with 8 envs (the profile of the gap to
  the actor + env.step limit).
- ``returns``: ``discounted_returns`` alone, from 1e3 to 1e6 transitions, against two pure Python loops.
- ``train``: ``REINFORCE.train()`` (one gradient step on the whole rollout) against the batch size.
- ``memory``: resident memory along a 1M-step CartPole-v1 run (in a fresh process).
- ``compile``: SB3's documented speed-up ``model.policy = th.compile(model.policy)`` for REINFORCE and PPO, eager
  against compiled (torch's default inductor backend), after a warm-up ``learn()`` that compiles (not in ``--sections``'s
  default: it compiles for minutes).
"""

import argparse
import multiprocessing
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

import sb3_reinforce.reinforce
from sb3_reinforce import REINFORCE
from sb3_reinforce.returns import discounted_returns

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_ENV = "BreakoutNoFrameskip-v4"  # SB3's AtariWrapper (84x84 grey, frame skip 4, a life lost ends an episode), 4 frames


@dataclass(frozen=True)
class Row:
    env_id: str
    n_envs: int
    n_steps: int
    budget: int  # env steps per measurement in the full run
    policy: str = "MlpPolicy"

    @property
    def name(self) -> str:
        return f"{self.env_id} | {self.n_envs} | {self.n_steps}"


ROWS = [
    Row("CartPole-v1", 1, 128, 3_000),
    Row("CartPole-v1", 8, 128, 16_000),
    Row("CartPole-v1", 8, 5, 8_000),
    Row("Pendulum-v1", 8, 128, 12_000),
    Row(IMAGE_ENV, 8, 32, 1_600, policy="CnnPolicy"),
]

# Every algorithm: (class, keyword arguments for the row) on top of the row's env, n_envs, policy and n_steps.
LEARNERS: dict[str, tuple[type, Callable[[Row], dict[str, Any]]]] = {
    "A2C": (A2C, lambda row: {}),
    # One epoch on one batch holding the whole rollout: one gradient step per rollout, as A2C and REINFORCE
    "PPO": (PPO, lambda row: dict(n_epochs=1, batch_size=row.n_steps * row.n_envs)),
    "REINFORCE": (REINFORCE, lambda row: {}),  # the defaults: baseline="value", rollout_mode="discard", the value fit
    # Without the value fit's passes, and also without the checks for non-finite numbers: what each costs
    "REINFORCE no fit": (REINFORCE, lambda row: dict(n_value_epochs=0)),
    "REINFORCE no fit, no checks": (REINFORCE, lambda row: dict(n_value_epochs=0)),
    "REINFORCE none": (REINFORCE, lambda row: dict(baseline="none")),
    "REINFORCE bootstrap": (REINFORCE, lambda row: dict(rollout_mode="bootstrap")),
}
LIMITS = {"env.step": None, "actor + env.step": "actor", "actor & critic + env.step": "actor_critic"}


def make_env(row: Row) -> VecEnv:
    if row.policy == "CnnPolicy":
        import ale_py

        gym.register_envs(ale_py)
        return VecFrameStack(make_atari_env(row.env_id, n_envs=row.n_envs, seed=0), n_stack=4)
    return make_vec_env(row.env_id, n_envs=row.n_envs, seed=0)


def learn_fps(row: Row, name: str, budget: int) -> float:
    """Env steps per second of ``learn(budget)`` (the model is built, and its env reset, before the clock starts)."""
    algo_class, kwargs = LEARNERS[name]
    model = algo_class(row.policy, make_env(row), n_steps=row.n_steps, seed=0, device="cpu", **kwargs(row))
    check_finite = sb3_reinforce.reinforce.check_finite
    if name.endswith("no checks"):
        sb3_reinforce.reinforce.check_finite = lambda *args, **kwargs: None
    try:
        start = time.perf_counter()
        model.learn(budget)
        fps = model.num_timesteps / (time.perf_counter() - start)
    finally:
        sb3_reinforce.reinforce.check_finite = check_finite
    model.env.close()
    return fps


def limit_fps(row: Row, forward: str | None, budget: int) -> float:
    """Env steps per second of stepping the env without learning: random actions, or sampled from the policy."""
    model = REINFORCE(row.policy, make_env(row), seed=0, device="cpu")  # SB3's policy, the env as learn() wraps it
    env, policy = model.env, model.policy
    assert env is not None
    policy.set_training_mode(False)
    n_batches = budget // row.n_envs
    random_actions = np.array([[env.action_space.sample() for _ in range(row.n_envs)] for _ in range(min(n_batches, 1000))])
    box = env.action_space if isinstance(env.action_space, spaces.Box) else None
    obs = env.reset()
    start = time.perf_counter()
    for step in range(n_batches):
        if forward is None:
            actions = random_actions[step % len(random_actions)]
        else:
            with th.no_grad():
                obs_tensor = obs_as_tensor(obs, policy.device)  # type: ignore[arg-type]
                if forward == "actor":
                    action_tensor = policy.get_distribution(obs_tensor).get_actions()
                else:
                    action_tensor, _, _ = policy(obs_tensor)
            actions = action_tensor.reshape((-1, *env.action_space.shape)).cpu().numpy()  # type: ignore[misc]
            if box is not None:
                actions = np.clip(actions, box.low, box.high)
        obs, _, _, _ = env.step(actions)
    fps = n_batches * row.n_envs / (time.perf_counter() - start)
    env.close()
    return fps


def throughput(rows: list[Row], repetitions: int, scale: float) -> str:
    names = list(LIMITS) + list(LEARNERS)
    fps: dict[tuple[Row, str], list[float]] = {(row, name): [] for row in rows for name in names}
    jobs = [(row, name) for row in rows for name in names]
    for rep in range(repetitions):
        shift = rep * len(jobs) // repetitions
        for row, name in jobs[shift:] + jobs[:shift]:
            budget = max(int(row.budget * scale), 4 * row.n_steps * row.n_envs)
            fps[row, name].append(limit_fps(row, LIMITS[name], budget) if name in LIMITS else learn_fps(row, name, budget))
        print(f"throughput: repetition {rep + 1}/{repetitions} done", file=sys.stderr, flush=True)

    lines = [
        "Env steps per second: median over the repetitions, +/- half the range (max - min) in percent of the median.",
        "",
        "| env | n_envs | n_steps | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for row in rows:
        cells = [_median_spread(fps[row, name]) for name in names]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    ratios = [(f"{name} / A2C", name, "A2C") for name in LEARNERS if name != "A2C"]
    ratios += [(f"{name} / actor + env.step", name, "actor + env.step") for name in LEARNERS if name.startswith("REINFORCE")]
    ratios += [("REINFORCE / REINFORCE no fit", "REINFORCE", "REINFORCE no fit")]
    ratios += [("REINFORCE no fit / REINFORCE no fit, no checks", "REINFORCE no fit", "REINFORCE no fit, no checks")]
    lines += [
        "",
        "Ratios of env steps per second, computed within each repetition: median [min - max] over the repetitions.",
        "",
        "| env | n_envs | n_steps | " + " | ".join(title for title, _, _ in ratios) + " |",
        "|---|---|---|" + "---|" * len(ratios),
    ]
    for row in rows:
        cells = [_ratio(fps[row, top], fps[row, bottom]) for _, top, bottom in ratios]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


COMPILE_ROW = Row("CartPole-v1", 8, 128, 16_000)


def compiled_fps(row: Row, name: str, compiled: bool, budget: int) -> tuple[float, float]:
    """
    Env steps per second of ``learn(budget)`` with the policy eager or compiled (``th.compile(model.policy)``, which
    compiles ``forward()``: the pass A2C and PPO act with, and REINFORCE too once the policy is not SB3's stock one), after
    a warm-up ``learn`` of 4 rollouts that compiles; and the warm-up's seconds.
    """
    algo_class, kwargs = LEARNERS[name]
    model = algo_class(row.policy, make_env(row), n_steps=row.n_steps, seed=0, device="cpu", **kwargs(row))
    if compiled:
        model.policy = th.compile(model.policy)
    start = time.perf_counter()
    model.learn(4 * row.n_steps * row.n_envs)
    warm_up = time.perf_counter() - start
    before = model.num_timesteps
    start = time.perf_counter()
    model.learn(budget, reset_num_timesteps=False)
    fps = (model.num_timesteps - before) / (time.perf_counter() - start)
    model.env.close()
    return fps, warm_up


def cold_compile_seconds(name: str) -> float:
    """The warm-up of a compiled ``name`` in a fresh process with an empty compile cache (the first compile on a machine)."""
    import subprocess
    import tempfile

    code = f"import sys; sys.path.insert(0, {HERE!r}); import throughput as t; "
    code += f"print(t.compiled_fps(t.COMPILE_ROW, {name!r}, True, 1)[1])"
    with tempfile.TemporaryDirectory() as cache:
        environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)
    return float(result.stdout.split()[-1])


def compile_timing(repetitions: int, scale: float) -> str:
    row, budget = COMPILE_ROW, int(COMPILE_ROW.budget * scale)
    cold = {name: cold_compile_seconds(name) for name in ("REINFORCE", "PPO")}
    jobs = [(name, compiled) for name in ("REINFORCE", "PPO") for compiled in (False, True)]
    fps: dict[tuple[str, bool], list[float]] = {job: [] for job in jobs}
    warm_up: dict[tuple[str, bool], list[float]] = {job: [] for job in jobs}
    for rep in range(repetitions):
        for name, compiled in jobs[rep % len(jobs) :] + jobs[: rep % len(jobs)]:
            steps_per_second, seconds = compiled_fps(row, name, compiled, budget)
            fps[name, compiled].append(steps_per_second)
            warm_up[name, compiled].append(seconds)
        print(f"compile: repetition {rep + 1}/{repetitions} done", file=sys.stderr, flush=True)
    lines = [
        f"{row.env_id}, {row.n_envs} envs, n_steps {row.n_steps}: env steps per second of `learn({budget})` after a warm-up",
        "`learn` of 4 rollouts, median +/- half the range over the repetitions; the ratio compiled / eager within each",
        "repetition. Warm-up seconds: median over the repetitions (torch's on-disk compile cache warm), and the first",
        "compile, in a fresh process with an empty cache.",
        "",
        "| algo | eager | compiled | compiled / eager | warm-up eager (s) | warm-up compiled (s) | first compile (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("REINFORCE", "PPO"):
        cells = [_median_spread(fps[name, False]), _median_spread(fps[name, True])]
        cells.append(_ratio(fps[name, True], fps[name, False]))
        cells += [f"{np.median(warm_up[name, compiled]):.1f}" for compiled in (False, True)] + [f"{cold[name]:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median_spread(values: list[float]) -> str:
    median = float(np.median(values))
    return f"{median:,.0f} +/-{50 * (max(values) - min(values)) / median:.0f}%"


def _ratio(top: list[float], bottom: list[float]) -> str:
    ratios = np.array(top) / np.array(bottom)
    return f"{np.median(ratios):.2f} [{ratios.min():.2f} - {ratios.max():.2f}]"


def backward_loop(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """The backward recursion ``G_t = r_t + gamma G_{t+1}`` as a Python double loop (envs, then time steps): O(T)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    n_steps, n_envs = rewards.shape
    returns = np.zeros((n_steps, n_envs))
    for env in range(n_envs):
        next_return = 0.0
        for t in range(n_steps - 1, -1, -1):
            if episode_ends[t, env]:
                next_return = 0.0
            next_return = rewards[t, env] + gamma * next_return
            returns[t, env] = next_return
    return returns


def forward_loop(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """The definition, per step: sum the discounted rewards up to the episode's end. O(T x episode length)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    n_steps, n_envs = rewards.shape
    returns = np.zeros((n_steps, n_envs))
    for env in range(n_envs):
        for t in range(n_steps):
            total, discount = 0.0, 1.0
            for k in range(t, n_steps):
                total += discount * rewards[k, env]
                if episode_ends[k, env]:
                    break
                discount *= gamma
            returns[t, env] = total
    return returns


def _best_time(function: Callable, *args: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def returns_timing(sizes: list[int], loop_sizes: list[int], repetitions: int) -> str:
    """``discounted_returns`` on T transitions (8 envs, time-major, episodes of 200 steps on average)."""
    rng = np.random.default_rng(0)
    data = {size: (rng.normal(size=(size // 8, 8)).astype(np.float32), rng.random((size // 8, 8)) < 1 / 200) for size in sizes}
    seconds: dict[tuple[str, int], list[float]] = {}
    for size in loop_sizes:  # the loops compute the same returns
        vectorized = discounted_returns(*data[size], 0.99)
        for loop in (backward_loop, forward_loop):
            np.testing.assert_allclose(loop(*data[size], 0.99), vectorized, rtol=1e-9, atol=1e-9)
    for _ in range(repetitions):
        for size in sizes:
            seconds.setdefault(("vectorized", size), []).append(
                _best_time(discounted_returns, *data[size], 0.99, repeat=max(3, 200_000 // size))
            )
            if size in loop_sizes:
                for loop in (backward_loop, forward_loop):
                    seconds.setdefault((loop.__name__, size), []).append(_best_time(loop, *data[size], 0.99, repeat=1))
    lines = [
        "`discounted_returns` on T transitions (8 envs, gamma 0.99, episodes of 200 steps on average), best of several "
        "calls, median over the repetitions; the loops' ratios are computed within each repetition.",
        "",
        "| T | vectorized (us) | ns per transition | backward loop (us) | loop / vectorized | per-step sum loop (us) "
        "| loop / vectorized |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        vectorized = np.array(seconds["vectorized", size])
        cells = [f"{size:,}", f"{np.median(vectorized) * 1e6:,.0f}", f"{np.median(vectorized) / size * 1e9:.1f}"]
        for loop in ("backward_loop", "forward_loop"):
            if size in loop_sizes:
                loop_times = np.array(seconds[loop, size])
                cells += [f"{np.median(loop_times) * 1e6:,.0f}", _ratio(list(loop_times), list(vectorized))]
            else:
                cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fill_buffer(model: REINFORCE, n_transitions: int, rng: np.random.Generator) -> None:
    """
    Fill the rollout buffer with ``n_transitions`` random CartPole-like transitions and compute their returns. The
    rollout's batched forward pass (``_compute_baseline``) is left out, so ``train()`` does its own: what is timed.
    """
    buffer, n_envs = model.rollout_buffer, model.n_envs
    buffer.start_rollout()
    unused = th.zeros(n_envs)
    for _ in range(n_transitions // n_envs):
        obs = rng.normal(size=(n_envs, 4)).astype(np.float32)
        buffer.add(obs, rng.integers(2, size=(n_envs, 1)), np.ones(n_envs), rng.random(n_envs) < 0.02, unused, unused)
    buffer.finish_rollout(np.full(n_envs, buffer.pos), np.zeros(n_envs, dtype=np.float32))


def train_timing(batch_sizes: list[int], repetitions: int) -> str:
    """``REINFORCE.train()`` (reading the buffer, forward, backward, optimizer step) against the batch size."""
    rng = np.random.default_rng(0)
    baselines = ("value", "none")
    models = {
        baseline: REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8), baseline=baseline, seed=0)
        for baseline in baselines
    }
    for model in models.values():
        model._setup_learn(1)  # the logger that train() writes to
        fill_buffer(model, batch_sizes[0], rng)
        model.train()  # warm-up: the optimizer's state is created at its first step
    seconds: dict[tuple[str, int], list[float]] = {}
    for _ in range(repetitions):
        for size in batch_sizes:
            for baseline, model in models.items():
                fill_buffer(model, size, rng)
                start = time.perf_counter()
                model.train()
                seconds.setdefault((baseline, size), []).append(time.perf_counter() - start)
    lines = [
        "`REINFORCE.train()` on CartPole-v1 transitions (8 envs, SB3's default MlpPolicy): median over the repetitions.",
        "",
        "| batch (transitions) | " + " | ".join(f"baseline={b}: ms | us per transition" for b in baselines) + " |",
        "|---|" + "---|---|" * len(baselines),
    ]
    for size in batch_sizes:
        cells = []
        for baseline in baselines:
            median = float(np.median(seconds[baseline, size]))
            cells += [f"{median * 1e3:,.1f}", f"{median / size * 1e6:.2f}"]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _memory() -> tuple[int, int]:
    """Resident memory of this process now and its peak since the process started (VmRSS, VmHWM), in bytes (Linux)."""
    values = {}
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value, _ = line.split()
                values[key] = int(value) * 1024  # kB
    return values["VmRSS:"], values["VmHWM:"]


class _SampleMemory(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.samples: list[tuple[int, int, int]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.samples.append((self.num_timesteps, *_memory()))


def memory_run(total_timesteps: int, n_envs: int) -> dict[str, Any]:
    """Train REINFORCE (defaults) on CartPole-v1, sampling the resident memory at the end of every rollout."""
    th.set_num_threads(1)
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=0), seed=0, device="cpu")
    sampler = _SampleMemory()
    start = time.perf_counter()
    model.learn(total_timesteps, callback=sampler)
    return dict(
        samples=sampler.samples,
        final_peak=_memory()[1],
        seconds=time.perf_counter() - start,
        buffer_rows=model.rollout_buffer.buffer_size,
        ep_len_mean=float(np.mean([info["l"] for info in model.ep_info_buffer])),
    )


def memory(total_timesteps: int, n_envs: int) -> str:
    # A fresh process (spawned, not forked): its memory and its peak are this run's alone
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply(memory_run, (total_timesteps, n_envs))
    steps, rss, peak = (np.array(column) for column in zip(*result["samples"], strict=True))
    fractions = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
    at = [min(int(np.searchsorted(steps, fraction * steps[-1])), len(steps) - 1) for fraction in fractions]
    later = steps >= steps[-1] // 10
    lines = [
        f'REINFORCE (defaults: baseline="value", rollout_mode="discard", n_steps=128) on CartPole-v1, {n_envs} envs, '
        f"{total_timesteps:,} env steps in {result['seconds']:.0f} s, in a fresh process; its resident memory (RSS) and the "
        "peak of its resident memory so far (VmHWM), read at the end of the first rollout past each fraction of the run. "
        f"Final mean episode length {result['ep_len_mean']:.0f}; rollout buffer {result['buffer_rows']} rows per env.",
        "",
        "| env steps | " + " | ".join(f"{steps[i]:,}" for i in at) + " |",
        "|---|" + "---|" * len(at),
        "| RSS (MiB) | " + " | ".join(f"{rss[i] / 2**20:.1f}" for i in at) + " |",
        "| peak RSS so far (MiB) | " + " | ".join(f"{peak[i] / 2**20:.1f}" for i in at) + " |",
        "",
        f"From 10% of the run to its end: RSS {rss[later][0] / 2**20:.1f} -> {rss[-1] / 2**20:.1f} MiB "
        f"(highest {rss[later].max() / 2**20:.1f}), peak {peak[later][0] / 2**20:.1f} -> "
        f"{result['final_peak'] / 2**20:.1f} MiB.",
    ]
    return "\n".join(lines)


def _timed(function: Callable, totals: dict[str, float], part: str) -> Callable:
    """``function``, adding the seconds of each call to ``totals[part]``."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[part] += time.perf_counter() - start

    return timed


BREAKDOWN_PARTS = [
    "VecEnv.step",
    "actor forward + sampling",
    "rollout_buffer.add",
    "returns (finish_rollout)",
    "values, log-probs, advantages (_compute_baseline)",
    "train() (with the value fit)",
]


def breakdown(repetitions: int, total_timesteps: int) -> str:
    """Where the time of ``REINFORCE.learn`` goes, per step of the 8 envs, beside the actor + env.step loop."""
    row = ROWS[1]  # CartPole-v1, 8 envs, n_steps=128
    variants = {"REINFORCE": {}, "REINFORCE bootstrap": dict(rollout_mode="bootstrap")}
    micros: dict[tuple[str, str], list[float]] = {}
    for _ in range(repetitions):
        for name, kwargs in variants.items():
            model = REINFORCE(row.policy, make_env(row), n_steps=row.n_steps, seed=0, device="cpu", **kwargs)
            totals = dict.fromkeys(BREAKDOWN_PARTS, 0.0)
            # Instance attributes shadow the methods that learn() calls (the distribution object is the policy's own)
            model.env.step = _timed(model.env.step, totals, "VecEnv.step")  # type: ignore[method-assign, union-attr]
            model.policy.get_distribution = _timed(model.policy.get_distribution, totals, "actor forward + sampling")
            action_dist = model.policy.action_dist
            action_dist.get_actions = _timed(action_dist.get_actions, totals, "actor forward + sampling")  # type: ignore[method-assign]
            buffer = model.rollout_buffer
            buffer.add = _timed(buffer.add, totals, "rollout_buffer.add")  # type: ignore[method-assign]
            buffer.finish_rollout = _timed(buffer.finish_rollout, totals, "returns (finish_rollout)")  # type: ignore[method-assign]
            model._compute_baseline = _timed(model._compute_baseline, totals, BREAKDOWN_PARTS[4])  # type: ignore[method-assign]
            model.train = _timed(model.train, totals, BREAKDOWN_PARTS[5])  # type: ignore[method-assign]
            start = time.perf_counter()
            model.learn(total_timesteps)
            totals["everything else"] = time.perf_counter() - start - sum(totals.values())
            totals["learn() in all"] = time.perf_counter() - start
            for part, seconds in totals.items():
                micros.setdefault((name, part), []).append(seconds / (model.num_timesteps / row.n_envs) * 1e6)
        limit = limit_fps(row, "actor", total_timesteps)
        micros.setdefault(("limit", "learn() in all"), []).append(row.n_envs / limit * 1e6)
    parts = [*BREAKDOWN_PARTS, "everything else", "learn() in all"]
    lines = [
        f"{row.env_id}, {row.n_envs} envs, n_steps={row.n_steps}, {total_timesteps:,} env steps: microseconds per step of "
        "the 8 envs (one `VecEnv.step` call), median over the repetitions. Each part is timed by wrapping the method "
        "that learn() calls; 'everything else' is the rest of learn() (observations to tensors, actions to numpy, "
        "callbacks, episode info, rollout bookkeeping).",
        "",
        "| part | " + " | ".join(f"{name}: us per step | share" for name in variants) + " |",
        "|---|" + "---|---|" * len(variants),
    ]
    for part in parts:
        cells = []
        for name in variants:
            median, total = np.median(micros[name, part]), np.median(micros[name, "learn() in all"])
            cells += [f"{median:.0f}", f"{100 * median / total:.0f}%"]
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    limit = np.median(micros["limit", "learn() in all"])
    lines.append(f"| the actor + env.step loop (the limit) | {limit:.0f} | | {limit:.0f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 repetitions, half the steps, a 100k-step memory run")
    parser.add_argument("--repetitions", type=int, help="repetitions of every timing (default 5, 2 with --quick)")
    parser.add_argument(
        "--sections", nargs="+", default=["throughput", "breakdown", "returns", "train", "memory"], help="what to measure"
    )
    parser.add_argument("--output", help="also write the tables (with the command, machine and date) to this file")
    args = parser.parse_args()
    repetitions = args.repetitions or (2 if args.quick else 5)
    warnings.filterwarnings("ignore")  # PPO's batch size advice, SB3's CNN-on-CPU advice: none changes what is measured
    th.set_num_threads(1)

    rows = ROWS
    try:
        import ale_py  # noqa: F401
    except ImportError:
        rows = [row for row in ROWS if row.policy != "CnnPolicy"]
        print(f"ale-py is not installed: no {IMAGE_ENV} row (pip install ale-py)", file=sys.stderr)
    sections = {
        "throughput": lambda: throughput(rows, repetitions, 0.5 if args.quick else 1.0),
        "returns": lambda: returns_timing(
            [1_000, 5_000, 100_000] if args.quick else [1_000, 5_000, 10_000, 100_000, 1_000_000], [1_000, 5_000], repetitions
        ),
        "train": lambda: train_timing([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000], repetitions),
        "breakdown": lambda: breakdown(repetitions, 8_000 if args.quick else 16_000),
        "memory": lambda: memory(100_000 if args.quick else 1_000_000, n_envs=8),
        "compile": lambda: compile_timing(repetitions, 0.5 if args.quick else 1.0),
    }
    parts = []
    for name in args.sections:
        start = time.perf_counter()
        parts += [f"### {name}", "", sections[name](), ""]
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    parts.append(
        f"Command: `python benchmarks/throughput.py {' '.join(sys.argv[1:])}`; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {th.__version__} ({th.get_num_threads()} "
        f"thread), stable-baselines3 {stable_baselines3.__version__}, gymnasium {gym.__version__}; "
        f"date: {time.strftime('%Y-%m-%d')}."
    )
    report = "\n".join(parts)
    if args.output:
        with open(args.output, "w") as file:
            file.write(report + "\n")
    print(report)


if __name__ == "__main__":
    main()

"""Shared by the benchmark scripts: train one configuration on one seed and evaluate it on the way."""

import argparse
import contextlib
import csv
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

# The "seed recipe": one update per episode, one 128-unit hidden layer, Adam 3e-4, standardized reward-to-go.
SEED_RECIPE = dict(
    n_envs=1,
    n_steps=1,
    learning_rate=3e-4,
    gamma=0.99,
    baseline="none",
    normalize_advantage=True,
    rollout_mode="discard",
    max_grad_norm=None,
    policy_kwargs=dict(net_arch=[128]),
)


def load_rows(path: str) -> list[dict[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return list(csv.DictReader(file))


def run_resumable(
    path: str,
    fields: list[str],
    jobs: dict[tuple[str, int], tuple[Callable, tuple]],
    workers: int,
    scheduler: str | None = None,
    outputs: str | None = None,
) -> None:
    """
    Run ``jobs`` ((config name, seed) -> (function, arguments)) in ``workers`` processes, or on the workers of the Dask
    scheduler at ``scheduler`` (``tcp://HOST:8786``), appending each result (a dict with ``fields``) to the CSV file at
    ``path`` as it comes, in the order the jobs finish; jobs whose (config, seed) is already there are skipped. Only this
    process writes the CSV file. A job that fails does not stop the others: the error is printed, and raised once every
    other job is done (running the script again retries it).

    On a cluster, the jobs are pickled with cloudpickle: a function of the script run as ``__main__`` goes by value, one
    of this module by reference, so this file is uploaded to the scheduler (which unpickles the tasks) and to every
    worker (also to those that join or restart later: ``UploadFile`` is a worker plugin), which need only the project's
    Python environment. ``outputs`` is a folder that the jobs write files to and this process reads back (learning
    curves): every worker must see it as this machine does (the same machine, or a shared file system mounted at the
    same path), which is checked before the first job.
    """
    done = {(row["config"], int(row["seed"])) for row in load_rows(path)}
    todo = [key for key in jobs if key not in done]
    if not todo:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    new_file = not os.path.exists(path)
    failed = []
    with open(path, "a", newline="") as file, _executor(workers, scheduler, outputs) as pool:
        writer = csv.DictWriter(file, fields)
        if new_file:
            writer.writeheader()
            file.flush()
        futures = {pool.submit(jobs[key][0], *jobs[key][1]): key for key in todo}
        for i, future in enumerate(as_completed(futures), 1):
            try:
                result = future.result()
            except Exception:
                failed.append(futures[future])
                print(f"[{i}/{len(futures)}] {futures[future]} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                continue
            writer.writerow(result)
            file.flush()
            print(f"[{i}/{len(futures)}] {result}", flush=True)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(todo)} jobs failed (the others are in {path}): {failed}")


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None, outputs: str | None) -> Iterator[Executor]:
    """``workers`` local processes, or the workers of the Dask scheduler at ``scheduler`` (see ``run_resumable``)."""
    if scheduler is None:
        with ProcessPoolExecutor(workers) as pool:
            yield pool
        return
    from distributed import Client
    from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

    # Leaving the block closes the client, which cancels the jobs not finished (an error or Ctrl-C here)
    with Client(scheduler) as client:
        # (Client.upload_file does the same under a new name each time; one name makes a new run replace the file on a
        # long-lived cluster instead of adding a copy)
        for plugin in SchedulerUploadFile(os.path.abspath(__file__)), UploadFile(os.path.abspath(__file__)):
            client.register_plugin(plugin, name="sb3-reinforce-benchmarks-common")
        if outputs is not None:
            _check_shared(client, outputs)
        yield client.get_executor(pure=False)


def _check_shared(client: Any, folder: str) -> None:
    """Fail unless every worker of ``client`` sees a file created in ``folder`` at the same path."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".worker_check_") as marker:
        seen = client.run(os.path.exists, marker.name)
    blind = sorted(worker for worker, exists in seen.items() if not exists)
    if blind:
        raise RuntimeError(
            f"the workers {blind} do not see {os.path.abspath(folder)}, where the jobs write the files this script reads "
            "back: run them on this machine, or on machines that mount it at the same path"
        )


def sweep_arguments(doc: str, envs: list[str], seeds: list[int]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """
    The command line of a sweep script: --env, --configs, --seeds (default ``seeds``), --workers or --scheduler,
    --report-only.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=sorted(envs))
    parser.add_argument("--configs", nargs="+", help="names of the env's configs to run (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler (tcp://HOST:8786): run the jobs on its workers, not --workers")
    parser.add_argument("--report-only", action="store_true", help="print the table of the runs already in the CSV file")
    return parser, parser.parse_args()


def run_sweep(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    configs: dict[str, dict[str, Any]],
    run: Callable,
    budget: int,
    eval_freq: int,
    results: str,
    fields: list[str],
    outputs: str | None = None,
) -> list[dict[str, str]]:
    """
    Run (resumably, unless ``--report-only``; on ``--scheduler``'s workers if given) ``run(env, name, config, seed,
    budget, eval_freq)`` for the chosen configs of ``args.env`` and seeds, and return the CSV rows of those configs. A
    config's own ``n_timesteps`` (as in a zoo entry) is its budget. ``outputs``: see ``run_resumable``.
    """
    names = args.configs or list(configs)
    unknown = sorted(set(names) - set(configs))
    if unknown:
        parser.error(f"unknown --configs {unknown} for {args.env}; choose from {sorted(configs)}")
    jobs = {
        (f"{args.env}/{name}", seed): (
            run,
            (args.env, name, configs[name], seed, int(configs[name].get("n_timesteps", budget)), eval_freq),
        )
        for name in names
        for seed in args.seeds
    }
    if not args.report_only:
        run_resumable(results, fields, jobs, args.workers, args.scheduler, outputs)
    return [row for row in load_rows(results) if row["config"] in {f"{args.env}/{name}" for name in names}]


def train_and_evaluate(
    env_id: str | Callable[[], Any],
    hyperparams: dict[str, Any],
    seed: int,
    budget: int,
    eval_freq: int,
    threshold: float,
    stop_at_threshold: bool,
    algo: str = "reinforce",
) -> dict[str, Any]:
    """
    Train ``algo`` with ``hyperparams`` (RL Zoo style: ``n_envs`` and ``policy`` included) on ``env_id`` (an id or an
    env factory) for ``budget`` env steps, evaluating the deterministic policy on 10 episodes every ``eval_freq`` steps
    (with action masks for the maskable algorithms).

    :return: steps (env steps when an evaluation first reached ``threshold``, None if never),
        final_eval (last evaluation), best_eval, seconds
    """
    from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    model, env, eval_env = build(env_id, hyperparams, seed, algo)
    n_envs = env.num_envs
    eval_callback_class = MaskableEvalCallback if algo.endswith("_mask") else EvalCallback
    stop = StopTrainingOnRewardThreshold(reward_threshold=threshold) if stop_at_threshold else None
    with tempfile.TemporaryDirectory() as log_path:
        evaluation = eval_callback_class(
            eval_env,
            callback_on_new_best=stop,
            n_eval_episodes=10,
            eval_freq=max(eval_freq // n_envs, 1),
            log_path=log_path,
            verbose=0,
        )
        start = time.time()
        model.learn(budget, callback=evaluation)
        seconds = time.time() - start
        data = np.load(os.path.join(log_path, "evaluations.npz"))
    means = data["results"].mean(axis=1)
    reached = np.flatnonzero(means >= threshold)
    return dict(
        steps=int(data["timesteps"][reached[0]]) if len(reached) else None,
        final_eval=round(float(means[-1]), 1),
        best_eval=round(float(means.max()), 1),
        seconds=round(seconds, 1),
    )


def build(
    env_id: str | Callable[[], Any], hyperparams: dict[str, Any], seed: int, algo: str = "reinforce", n_eval_envs: int = 1
) -> tuple:
    """
    The model (``algo`` with RL Zoo style ``hyperparams``: ``n_envs``, ``policy``, ``normalize``, ``frame_stack``
    included), its training env (seeded ``seed``) and an evaluation env of ``n_eval_envs`` envs (seeded ``seed + 1000``;
    with VecNormalize, frozen and on raw rewards).
    """
    import torch as th
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_atari_env, make_vec_env
    from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

    from sb3_reinforce import REINFORCE, MaskableREINFORCE
    from sb3_reinforce.train import convert_zoo_values, vec_normalize_kwargs

    th.set_num_threads(1)
    algos = {"reinforce": REINFORCE, "a2c": A2C, "ppo": PPO, "reinforce_mask": MaskableREINFORCE, "ppo_mask": MaskablePPO}
    hyperparams = convert_zoo_values(hyperparams)
    n_envs = hyperparams.pop("n_envs", 1)
    policy = hyperparams.pop("policy", "MlpPolicy")
    normalize = vec_normalize_kwargs(hyperparams.pop("normalize", False))
    hyperparams.pop("n_timesteps", None)
    frame_stack = hyperparams.pop("frame_stack", 0)
    # A game as the zoo trains it with an atari entry: make_atari_env is make_vec_env with the entry's AtariWrapper (over
    # the Monitor, so an evaluation scores whole games)
    atari = isinstance(env_id, str) and is_atari(env_id)
    if atari:
        hyperparams.pop("env_wrapper", None)
    make = make_atari_env if atari else make_vec_env
    env = make(env_id, n_envs=n_envs, seed=seed)
    eval_env = make(env_id, n_envs=n_eval_envs, seed=seed + 1000)
    if frame_stack:
        env, eval_env = VecFrameStack(env, frame_stack), VecFrameStack(eval_env, frame_stack)
    if normalize is not None:
        # as the zoo does: the eval env shares the observation statistics (EvalCallback syncs them) and sees raw rewards
        env = VecNormalize(env, gamma=hyperparams.get("gamma", 0.99), **normalize)
        eval_env = VecNormalize(eval_env, **{**normalize, "training": False, "norm_reward": False})
    return algos[algo](policy, env, seed=seed, device="cpu", **hyperparams), env, eval_env


def steps_table(rows: list[dict[str, str]], threshold: float) -> str:
    """Markdown table per config of ``rows`` (``train_and_evaluate`` results): steps to ``threshold``, final evaluation."""
    lines = [
        f"| config | reached {threshold:g} | median steps to {threshold:g} | steps per seed | final eval (mean +/- std) |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(row["config"] for row in rows):
        runs = [row for row in rows if row["config"] == name]
        steps = [int(row["steps"]) if row["steps"] else None for row in runs]
        median = np.median([s if s is not None else np.inf for s in steps])
        per_seed = " ".join(f"{s // 1000}k" if s is not None else "never" for s in steps)
        final = [float(row["final_eval"]) for row in runs]
        median_text = f"{int(median):,}" if np.isfinite(median) else "never"
        reached = sum(s is not None for s in steps)
        lines.append(
            f"| {name} | {reached}/{len(runs)} | {median_text} | {per_seed} | {np.mean(final):.1f} +/- {np.std(final):.1f} |"
        )
    return "\n".join(lines)


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an ALE game (as rl_zoo3 tells: its entry point is ale_py's AtariEnv)."""
    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:  # the atari extra is not installed: no env is an Atari game
        return False
    return env_id in gym.registry and "AtariEnv" in str(gym.registry[env_id].entry_point)


class TwoWayEvaluation(BaseCallback):
    """
    Every ``eval_freq`` env steps, the mean return of ``n_eval_episodes`` episodes (run side by side in as many envs
    seeded ``seed + 1000``) of the stochastic policy (actions sampled: the policy that is trained) and of the
    deterministic one. With VecNormalize, the evaluation envs use the training env's observation statistics, frozen,
    and raw rewards. The curves are saved to ``path`` (.npz: timesteps, stochastic, deterministic) after every
    evaluation, so that a run cut short keeps them. Usable from a zoo config (``callback:`` with these keyword
    arguments), where ``benchmarks/`` is on the Python path. An Atari game is evaluated as the zoo trains it (SB3's
    AtariWrapper over a Monitor: the return of a whole game, unclipped) with the entry's ``frame_stack``.

    With ``checkpoint`` (a folder), every evaluation also saves the model, its VecNormalize statistics and the curves
    (with the seconds trained so far) there, and a run that finds them at its start goes on from them: parameters,
    optimizer states, step count (so the learning rate schedule too), statistics and curves. The episodes in progress
    and the random state start afresh, so a resumed run is one more seed-like draw, not the run that would have gone
    through; the steps after the last checkpoint are trained again.
    """

    def __init__(
        self,
        env_id: str,
        eval_freq: int,
        path: str,
        seed: int = 0,
        n_eval_episodes: int = 10,
        checkpoint: str | None = None,
        frame_stack: int = 0,
    ):
        super().__init__()
        self.env_id, self.eval_freq, self.path, self.seed = env_id, eval_freq, path, seed
        self.n_eval_episodes, self.checkpoint, self.frame_stack = n_eval_episodes, checkpoint, frame_stack
        self.curves: dict[str, list[float]] = {"timesteps": [], "stochastic": [], "deterministic": [], "seconds": []}
        self.started, self.seconds_before = time.time(), 0.0

    def _init_callback(self) -> None:
        from stable_baselines3.common.env_util import make_atari_env, make_vec_env
        from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize, VecTransposeImage

        # An Atari game as the zoo trains it (AtariWrapper over Monitor: an episode is a whole game, scored unclipped)
        make = make_atari_env if is_atari(self.env_id) else make_vec_env
        self.eval_env = make(self.env_id, n_envs=self.n_eval_episodes, seed=self.seed + 1000)
        if self.frame_stack:
            self.eval_env = VecFrameStack(self.eval_env, self.frame_stack)
        training = self.model.get_vec_normalize_env()
        if training is not None:
            self.eval_env = VecNormalize(
                self.eval_env, training=False, norm_obs=training.norm_obs, norm_reward=False, clip_obs=training.clip_obs
            )
        if isinstance(self.training_env, VecTransposeImage):  # SB3 put image observations channels first: the same chain
            self.eval_env = VecTransposeImage(self.eval_env)

    def _on_training_start(self) -> None:
        self.started = time.time()
        if self.checkpoint is not None and os.path.exists(os.path.join(self.checkpoint, "model.zip")):
            self.resume(self.checkpoint)

    def resume(self, checkpoint: str) -> None:
        import pickle

        from stable_baselines3.common.save_util import load_from_zip_file

        data, params, _ = load_from_zip_file(os.path.join(checkpoint, "model.zip"), device=self.model.device)
        assert params is not None and data is not None, f"{checkpoint}/model.zip holds no model"
        self.model.set_parameters(params, exact_match=True, device=self.model.device)
        for key in ("num_timesteps", "_n_updates", "_value_warmup_done"):
            if key in data:
                setattr(self.model, key, data[key])
        self.model._num_timesteps_at_start = self.model.num_timesteps
        training = self.model.get_vec_normalize_env()
        if training is not None:
            with open(os.path.join(checkpoint, "vecnormalize.pkl"), "rb") as file:
                saved = pickle.load(file)
            training.obs_rms, training.ret_rms = saved.obs_rms, saved.ret_rms
            self.model._last_obs = training.normalize_obs(training.get_original_obs())  # type: ignore[assignment]
        self.curves = {key: list(value) for key, value in np.load(os.path.join(checkpoint, "curves.npz")).items()}
        self.seconds_before = self.curves["seconds"][-1]

    def _on_step(self) -> bool:
        if self.num_timesteps >= (len(self.curves["timesteps"]) + 1) * self.eval_freq:
            self.evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.curves["timesteps"] or self.curves["timesteps"][-1] < self.num_timesteps:
            self.evaluate()  # the last evaluation is the policy at the end of training

    def evaluate(self) -> None:
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import sync_envs_normalization

        sync_envs_normalization(self.training_env, self.eval_env)
        self.curves["timesteps"].append(self.num_timesteps)
        for key, deterministic in (("stochastic", False), ("deterministic", True)):
            mean, _ = evaluate_policy(self.model, self.eval_env, self.n_eval_episodes, deterministic=deterministic)
            self.curves[key].append(float(mean))
        self.curves["seconds"].append(self.seconds_before + time.time() - self.started)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        np.savez(self.path, **{key: np.array(self.curves[key]) for key in ("timesteps", "stochastic", "deterministic")})
        if self.checkpoint is not None:
            os.makedirs(self.checkpoint, exist_ok=True)
            self.model.save(os.path.join(self.checkpoint, "model.zip"))
            training = self.model.get_vec_normalize_env()
            if training is not None:
                training.save(os.path.join(self.checkpoint, "vecnormalize.pkl"))
            np.savez(os.path.join(self.checkpoint, "curves.npz"), **{key: np.array(v) for key, v in self.curves.items()})


def collapsed(curve: np.ndarray, random_score: float) -> bool:
    """Whether a run that did better than the random policy ends closer to the random policy's score than to its best:
    last - random < (best - random) / 2 (for a positive reward and a random score near 0: below half of its best)."""
    gain = curve.max() - random_score
    return bool(gain > 0 and curve[-1] - random_score < gain / 2)

"""
Benchmark of record for zoo_configs/reinforce.yml: every entry trained through the RL Zoo launcher
(``python -m sb3_reinforce.zoo train``) on several seeds, with SB3's A2C and PPO on rl_zoo3's own hyperparameters
measured the same way beside it at their own zoo budgets (and, with ``--algos a2c ppo``, at the REINFORCE entry's).

    python benchmarks/zoo_benchmark.py --workers 2                                   # every env, 5 seeds (Atari 3)
    python benchmarks/zoo_benchmark.py --envs CartPole-v1 --algos reinforce --seeds 0 1   # a part of it
    python benchmarks/zoo_benchmark.py --report-only                                 # the doc from the runs done
    python benchmarks/zoo_benchmark.py --status                                      # seeds done, in progress, to run

Each run evaluates its policy every ``eval_freq`` env steps on 10 episodes twice, sampling its actions (the
stochastic policy: the one that is trained) and with its deterministic actions (``common.TwoWayEvaluation``, added
to the run's zoo config as a callback; on VecNormalize-synced envs where the entry normalizes). Finished runs are
skipped when re-run: their rows are in benchmarks/results/zoo_benchmark.csv and their curves in
benchmarks/results/zoo_benchmark/. A run of 1M steps or more checkpoints itself at every evaluation in
benchmarks/results/zoo_benchmark_partial/<env>_<algo>_<seed>.partial/ (commit it: the same command goes on from there
in the next session; see ``common.TwoWayEvaluation`` for what a resumed run keeps). Writes docs/benchmark.md (per
env: the table and the learning curves; over the envs: interquartile means with stratified-bootstrap 95% confidence
intervals and performance profiles, from rliable) and its plots in docs/benchmark/ (``--output PATH.md``: PATH.md and
PATH/).

An Atari game (BreakoutNoFrameskip-v4) trains on the ``atari`` entries, ours and rl_zoo3's, as the zoo trains every game,
for ``ATARI_BUDGET`` env steps (both algorithms: their entries' 10M would take days here), on 3 seeds, and stays out of
the aggregate (A2C only on request):

    python benchmarks/zoo_benchmark.py --envs BreakoutNoFrameskip-v4          # --algos reinforce ppo --seeds 0 1 2
"""

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]
from common import collapsed, is_atari, load_rows, run_resumable  # noqa: E402

from examples.common import markdown_table, plot_curves  # noqa: E402
from examples.records import done_rows, read_json, record_runs, resolved_hyperparams  # noqa: E402

RESULTS = os.path.join(HERE, "results", "zoo_benchmark.csv")
CURVES = os.path.join(HERE, "results", "zoo_benchmark")
# Runs of at least this many env steps checkpoint themselves there (committed: the next session resumes them)
PARTIAL = os.path.join(HERE, "results", "zoo_benchmark_partial")
LONG_RUN = 1_000_000
RANDOM_SCORES = os.path.join(HERE, "results", "random_scores.json")
DOCS = os.path.join(ROOT, "docs")
FIELDS = [
    "config",
    "env",
    "algo",
    "seed",
    "budget",
    "steps_stoch",
    "steps_det",
    "last_stoch",
    "last_det",
    "best_stoch",
    "best_det",
    "collapse_stoch",
    "collapse_det",
    "seconds",
]
# "a2c_own" and "ppo_own" train for their own zoo budget (the record's reference), "a2c" and "ppo" for the REINFORCE
# entry's budget (on request); "reinforce_default": REINFORCE with the file's untuned `default` entry for that entry's
# budget, as the zoo trains an env that has no entry of its own (what a user gets without tuning, on request)
ALGOS = ["reinforce", "a2c", "ppo", "a2c_own", "ppo_own", "reinforce_default"]
RECORD = ["reinforce", "a2c_own", "ppo_own"]
SEEDS = [0, 1, 2, 3, 4]
# An Atari game's record: REINFORCE beside PPO (the comparison), on 3 seeds (a CNN run takes hours here)
ATARI_RECORD, ATARI_SEEDS = ["reinforce", "ppo_own"], [0, 1, 2]
# env -> (reward threshold or target, evaluation period, reference score): "reached" counts the runs whose evaluation
# reached the threshold; the aggregate normalizes scores to (score - random) / (reference - random)
ENVS: dict[str, tuple[float | None, int, float]] = {
    "CartPole-v1": (475.0, 5_000, 500.0),
    "Acrobot-v1": (-100.0, 10_000, -100.0),
    "LunarLander-v3": (200.0, 25_000, 200.0),
    "Pendulum-v1": (None, 20_000, -200.0),
    "MountainCarContinuous-v0": (90.0, 5_000, 90.0),
    "InvertedPendulum-v5": (950.0, 5_000, 1000.0),
    "Hopper-v5": (800.0, 50_000, 800.0),
    "HalfCheetah-v5": (1500.0, 50_000, 1500.0),
    # issue 23's standard suite: the targets are the issue's
    "Walker2d-v5": (1000.0, 50_000, 1000.0),
    "Ant-v5": (1000.0, 50_000, 1000.0),
    "Swimmer-v5": (70.0, 50_000, 70.0),
    "Reacher-v5": (-6.0, 10_000, -6.0),
    "InvertedDoublePendulum-v5": (7000.0, 20_000, 7000.0),
    "LunarLanderContinuous-v3": (200.0, 25_000, 200.0),
    "BipedalWalker-v3": (250.0, 100_000, 250.0),
    "MountainCar-v0": (-110.0, 10_000, -110.0),
    # the atari entry (and rl_zoo3 PPO's) at ATARI_BUDGET, on 3 seeds: no threshold; the reference is the human score
    "BreakoutNoFrameskip-v4": (None, 100_000, 30.5),
}
# Atari games train for this many env steps (both algorithms; their entries say 10M): the most the 2 CPU cores allow
ATARI_BUDGET = 2_000_000
# rl_zoo3 2.9 has no A2C/PPO entry for these envs: its entries for the same task are used, unchanged
ZOO_STAND_INS = {
    ("ppo", "InvertedPendulum-v5"): "InvertedPendulum-v2",
    ("a2c", "InvertedPendulum-v5"): "Hopper-v4",
    ("ppo", "Hopper-v5"): "Hopper-v4",
    ("a2c", "Hopper-v5"): "Hopper-v4",
    ("ppo", "HalfCheetah-v5"): "HalfCheetah-v4",
    ("a2c", "HalfCheetah-v5"): "HalfCheetah-v4",
    ("ppo", "Walker2d-v5"): "Walker2d-v4",
    ("a2c", "Walker2d-v5"): "Walker2d-v4",
    ("ppo", "Ant-v5"): "Ant-v4",
    ("a2c", "Ant-v5"): "Ant-v4",
    ("ppo", "Swimmer-v5"): "Swimmer-v4",
    ("a2c", "Swimmer-v5"): "Swimmer-v4",
    ("ppo", "Reacher-v5"): "Reacher-v2",
    ("ppo", "InvertedDoublePendulum-v5"): "InvertedDoublePendulum-v2",
}


def zoo_entry(algo: str, env_id: str) -> tuple[dict[str, Any], str]:
    """The hyperparameters ``algo`` (without ``_own``) trains ``env_id`` with, and where they come from."""
    import rl_zoo3

    # As written in the file (rl_zoo3 converts "lin_" values and policy_kwargs strings itself)
    if algo == "reinforce":
        path, key, source = os.path.join(ROOT, "zoo_configs", "reinforce.yml"), env_id, "zoo_configs/reinforce.yml"
    elif algo == "reinforce_default":
        path, key, source = os.path.join(ROOT, "zoo_configs", "reinforce.yml"), "default", "zoo_configs/reinforce.yml default"
    else:
        path = os.path.join(os.path.dirname(rl_zoo3.__file__), "hyperparams", f"{algo}.yml")
        key = ZOO_STAND_INS.get((algo, env_id), env_id)
        source = f"rl_zoo3 {algo}.yml" + ("" if key == env_id else f" ({key} entry)")
    with open(path) as file:
        entries = yaml.load(file, Loader=yaml.UnsafeLoader)
    if algo != "reinforce_default" and key not in entries and is_atari(env_id):  # as rl_zoo3 trains every game
        key, source = "atari", f"{source} (atari entry)"
    if algo != "reinforce" and key not in entries:  # as rl_zoo3 trains an env it has no entry for
        key, source = "default", f"rl_zoo3 {algo}.yml (default entry)"
    return entries.get(key, {}), source


def budget_of(label: str, env_id: str) -> int:
    """
    The env steps a run of ``label`` trains for: the ``n_timesteps`` of the REINFORCE entry (``reinforce``, ``a2c``,
    ``ppo``), of the algorithm's own (``_own``), or of the ``default`` entry (``reinforce_default``).
    """
    if is_atari(env_id):
        return ATARI_BUDGET
    algo = label.removesuffix("_own")
    entry = zoo_entry(algo if label.endswith("_own") or algo == "reinforce_default" else "reinforce", env_id)[0]
    return int(float(entry["n_timesteps"]))


def record_of(env_id: str) -> tuple[list[str], list[int]]:
    """The labels (at their own budgets) and the seeds of ``env_id``'s record."""
    return (ATARI_RECORD, ATARI_SEEDS) if is_atari(env_id) else (RECORD, SEEDS)


def resolved(label: str, env_id: str) -> str:
    """The label whose runs stand for ``label`` (an ``_own`` run at the REINFORCE entry's budget is the same-budget run)."""
    same = label.endswith("_own") and budget_of(label, env_id) == budget_of("reinforce", env_id)
    return label.removesuffix("_own") if same else label


def labels_to_run(env_id: str, labels: list[str]) -> list[str]:
    """The distinct labels whose runs stand for ``labels``, in order."""
    return list(dict.fromkeys(resolved(label, env_id) for label in labels))


def eval_freq_of(env_id: str, budget: int) -> int:
    """The env's evaluation period, lengthened so that no run is evaluated more than 100 times."""
    return max(ENVS[env_id][1], budget // 100)


def run(env_id: str, label: str, seed: int, budget: int, eval_freq: int) -> dict[str, Any]:
    """Train one (env, algorithm, seed) with the zoo launcher; keep its evaluation curves, drop the rest of its logs."""
    algo = label.removesuffix("_own")
    threshold = ENVS[env_id][0]
    curve_path = os.path.join(CURVES, f"{env_id}_{label}_{seed}.npz")
    hyperparams = dict(zoo_entry(algo, env_id)[0])
    # What this run trains, kept beside its curve until main() records it (record_configs)
    os.makedirs(CURVES, exist_ok=True)
    with open(curve_path.removesuffix(".npz") + ".config.json", "w") as file:
        used = dict(config=f"{env_id}/{label}", seed=seed, entry=hyperparams, budget=budget, eval_freq=eval_freq)
        json.dump(dict(used, env=env_id, label=label, threshold=threshold), file, default=repr)
    # A long run checkpoints itself at every evaluation and goes on from there when it is started again (a later session)
    checkpoint = os.path.join(PARTIAL, f"{env_id}_{label}_{seed}.partial") if budget >= LONG_RUN else None
    seconds_before = resumed_seconds(checkpoint)
    evaluation = dict(env_id=env_id, eval_freq=eval_freq, path=curve_path, seed=seed, checkpoint=checkpoint)
    evaluation["frame_stack"] = int(hyperparams.get("frame_stack", 0))
    hyperparams["callback"] = [*_as_list(hyperparams.get("callback")), {"common.TwoWayEvaluation": evaluation}]
    with tempfile.TemporaryDirectory() as logs:
        conf_file = os.path.join(logs, "conf.yml")
        with open(conf_file, "w") as file:
            yaml.dump({env_id: hyperparams}, file)
        launcher_algo = "reinforce" if algo == "reinforce_default" else algo
        command = [sys.executable, "-m", "sb3_reinforce.zoo", "train", "--algo", launcher_algo, "--env", env_id]
        command += ["--seed", str(seed)]
        command += ["-n", str(budget), "--eval-freq", "-1", "-f", logs, "--conf-file", conf_file]
        command += ["--num-threads", "1", "--verbose", "0", "--log-interval", "-1"]
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")])}
        start = time.time()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=environment)
        seconds = seconds_before + time.time() - start
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    data = np.load(curve_path)
    row: dict[str, Any] = dict(config=f"{env_id}/{label}", env=env_id, algo=label, seed=seed, budget=budget)
    for key, short in (("stochastic", "stoch"), ("deterministic", "det")):
        means = data[key]
        reached = np.flatnonzero(means >= threshold) if threshold is not None else []
        row[f"steps_{short}"] = int(data["timesteps"][reached[0]]) if len(reached) else ""
        row[f"last_{short}"], row[f"best_{short}"] = round(float(means[-1]), 1), round(float(means.max()), 1)
        row[f"collapse_{short}"] = int(collapsed(means, random_scores([env_id])[env_id]))
    return dict(row, seconds=round(seconds, 1))


def resumed_seconds(checkpoint: str | None) -> float:
    """The seconds that the run saved in ``checkpoint`` had trained (0 for a run that starts from scratch)."""
    if checkpoint is None or not os.path.exists(os.path.join(checkpoint, "curves.npz")):
        return 0.0
    return float(np.load(os.path.join(checkpoint, "curves.npz"))["seconds"][-1])


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def config_record(env_id: str, label: str, used: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """
    The configuration of a run of ``label`` on ``env_id`` as its record keeps it (examples/records.py): the zoo entry
    over the algorithm's keyword defaults, the budget, the evaluation period and the threshold. From ``used`` (what
    ``run`` wrote beside its curve), or by default those a run would use now (None: the env or its entry is gone).
    """
    from stable_baselines3 import A2C, PPO

    from sb3_reinforce import REINFORCE

    algo = label.removesuffix("_own")
    if used is None:
        if env_id not in ENVS or not zoo_entry(algo, env_id)[0]:
            return None
        budget = budget_of(label, env_id)
        used = dict(entry=zoo_entry(algo, env_id)[0], budget=budget, eval_freq=eval_freq_of(env_id, budget))
        used["threshold"] = ENVS[env_id][0]
    algorithms = {"reinforce": REINFORCE, "reinforce_default": REINFORCE, "a2c": A2C, "ppo": PPO}
    hyperparams = resolved_hyperparams(algorithms[algo], used["entry"])
    return dict(algo=algo, hyperparams=hyperparams, **{key: used[key] for key in ("budget", "eval_freq", "threshold")})


def record_configs() -> None:
    """Record the configuration of every finished run (the one ``run`` wrote beside its curve) in the CSV file's records."""
    done, found = done_rows(RESULTS), {}
    for path in glob.glob(os.path.join(CURVES, "*.config.json")):
        used = read_json(path)
        if (used["config"], used["seed"]) in done:
            found[path] = ((used["config"], used["seed"]), config_record(used["env"], used["label"], used))
    record_runs(RESULTS, dict(found.values()), "the run")
    for path in found:
        os.remove(path)


def random_scores(envs: list[str], episodes: int = 100) -> dict[str, float]:
    """The uniformly random policy's mean return per env (measured once on ``episodes`` episodes, then read back)."""
    scores = json.load(open(RANDOM_SCORES)) if os.path.exists(RANDOM_SCORES) else {}
    missing = [env_id for env_id in envs if env_id not in scores]
    for env_id in missing:
        env = gym.make(env_id)
        env.action_space.seed(0)
        total = 0.0
        for episode in range(episodes):
            env.reset(seed=episode)
            done = False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
        scores[env_id] = round(total / episodes, 1)
    if missing:
        with open(RANDOM_SCORES, "w") as file:
            json.dump(scores, file, indent=1, sort_keys=True)
    return scores


def summary_rows(env_id: str, rows: list[dict[str, str]], labels: list[str]) -> list[list[Any]]:
    threshold = ENVS[env_id][0]
    table = []
    for label in labels:
        runs = [row for row in rows if row["env"] == env_id and row["algo"] == label]
        _, source = zoo_entry(label.removesuffix("_own"), env_id)
        if not runs:
            if label in labels_to_run(env_id, record_of(env_id)[0]):  # a gap in the record, shown as one
                table.append([label, source, f"{budget_of(label, env_id):,}", "0", "not run yet"])
            continue
        cells = [label, source, f"{int(runs[0]['budget']):,}", str(len(runs))]
        for short in ("stoch", "det"):
            last = np.array([float(row[f"last_{short}"]) for row in runs])
            cells.append(f"{last.mean():.1f} +/- {last.std():.1f} (worst {last.min():.1f})")
        for short in ("stoch", "det") if threshold is not None else ():
            steps = np.array([float(row[f"steps_{short}"]) if row[f"steps_{short}"] else np.inf for row in runs])
            median = f"{np.median(steps):,.0f}" if np.isfinite(np.median(steps)) else "not reached"
            cells.append(f"{np.isfinite(steps).sum()}/{len(runs)}, {median}")
        cells.append("/".join(str(sum(int(row[f"collapse_{short}"]) for row in runs)) for short in ("stoch", "det")))
        cells.append(at_ppo_budget(env_id, label, runs))
        table.append(cells)
    return table


def at_ppo_budget(env_id: str, label: str, runs: list[dict[str, str]]) -> str:
    """
    REINFORCE's evaluations at PPO's own zoo budget (the last evaluation at or before it), read from the same runs'
    curves: stochastic and deterministic, mean +/- std (worst). "" for the other algorithms and where the budgets agree.
    """
    if not label.startswith("reinforce") or "n_timesteps" not in zoo_entry("ppo", env_id)[0]:
        return ""
    ppo_budget = budget_of("ppo_own", env_id)
    if ppo_budget >= int(runs[0]["budget"]):
        return ""
    parts = []
    for key in ("stochastic", "deterministic"):
        scores = []
        for row in runs:
            data = np.load(os.path.join(CURVES, f"{env_id}_{label}_{row['seed']}.npz"))
            scores.append(float(data[key][np.flatnonzero(data["timesteps"] <= ppo_budget)[-1]]))
        parts.append(f"{np.mean(scores):.1f} +/- {np.std(scores):.1f} (worst {min(scores):.1f})")
    return f"{ppo_budget:,}: " + " / ".join(parts)


def curves(env_id: str, labels: list[str], rows: list[dict[str, str]], key: str) -> dict[str, list[tuple[np.ndarray, ...]]]:
    """The evaluation curves of the finished runs in ``rows`` (a run still going has a curve file but no row yet)."""
    found: dict[str, list[tuple[np.ndarray, ...]]] = {}
    for label in labels:
        for row in rows:
            if row["env"] == env_id and row["algo"] == label:
                data = np.load(os.path.join(CURVES, f"{env_id}_{label}_{row['seed']}.npz"))
                found.setdefault(label, []).append((data["timesteps"], data[key]))
    return found


def normalized_scores(envs: list[str], rows: list[dict[str, str]], seeds: list[int], short: str) -> dict[str, dict[str, list]]:
    """
    env -> algorithm -> the normalized last evaluations (``short``: "stoch" or "det") on ``seeds``, for the envs where
    every algorithm of the record has a row on every one of those seeds.
    """
    randoms = random_scores(envs)
    complete = {}
    for env_id in envs:
        per_algo = {}
        for algo in RECORD:  # each algorithm at its own zoo budget
            runs = {int(row["seed"]): row for row in rows if row["env"] == env_id and row["algo"] == resolved(algo, env_id)}
            if all(seed in runs for seed in seeds):
                reference, random = ENVS[env_id][2], randoms[env_id]
                per_algo[algo] = [(float(runs[s][f"last_{short}"]) - random) / (reference - random) for s in seeds]
        if len(per_algo) == len(RECORD):
            complete[env_id] = per_algo
    return complete


def aggregates(envs: list[str], rows: list[dict[str, str]], seeds: list[int], plots: str) -> str:
    """
    The aggregate over the envs with every algorithm on every one of ``seeds``, and, where A2C's and PPO's runs stop at 3
    seeds (the issue allows 3 on the envs the CPU limits), a second one on the first 3 seeds over every env that has them.
    """
    parts = [aggregate(envs, rows, seeds, plots)]
    fewer = seeds[:3]
    if len(normalized_scores(envs, rows, fewer, "stoch")) > len(normalized_scores(envs, rows, seeds, "stoch")):
        parts += [f"### On seeds {', '.join(map(str, fewer))}\n", aggregate(envs, rows, fewer, plots, suffix="_3seeds")]
    return "\n".join(parts)


def aggregate(envs: list[str], rows: list[dict[str, str]], seeds: list[int], plots: str, suffix: str = "") -> str:
    """rliable's interquartile mean (stratified bootstrap 95% CIs) and performance profiles of normalized last scores."""
    from rliable import library as rly
    from rliable import metrics, plot_utils

    algos = RECORD
    lines = []
    for short, name in (("stoch", "stochastic"), ("det", "deterministic")):
        np.random.seed(0)  # rliable draws its bootstrap samples from numpy's global generator: the same CIs on every run
        per_env = normalized_scores(envs, rows, seeds, short)
        complete = list(per_env)
        if not complete:
            return "No env has every algorithm on every seed yet: no aggregate."
        missing = [env_id for env_id in envs if env_id not in complete]
        matrices = {algo: np.array([per_env[env_id][algo] for env_id in complete]).T for algo in algos}  # (runs, envs)
        iqm = lambda x: np.array([metrics.aggregate_iqm(x)])  # noqa: E731
        points, intervals = rly.get_interval_estimates(matrices, iqm, reps=5000)
        lines += [
            f"Interquartile mean of the normalized last evaluation ({name} policy), over {len(seeds)} seeds x "
            f"{len(complete)} envs ({', '.join(complete)}), with stratified-bootstrap 95% confidence intervals"
            + (f" ({', '.join(missing)}: not every algorithm on every seed yet, left out):" if missing else ":"),
            "",
            markdown_table(
                ["algo", "IQM", "95% CI"],
                [[a, f"{points[a][0]:.2f}", f"[{intervals[a][0][0]:.2f}, {intervals[a][1][0]:.2f}]"] for a in algos],
            ),
            "",
        ]
        thresholds = np.linspace(0.0, 1.2, 61)
        profiles, profile_cis = rly.create_performance_profile(matrices, thresholds)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from matplotlib.lines import Line2D

        colors = {algo: f"C{i}" for i, algo in enumerate(algos)}
        figure, axes = plt.subplots(figsize=(6, 4))
        plot_utils.plot_performance_profiles(
            profiles, thresholds, performance_profile_cis=profile_cis, colors=colors, xlabel="normalized score", ax=axes
        )
        axes.legend([Line2D([0], [0], color=colors[algo]) for algo in algos], algos)
        axes.set_title(f"performance profile, {name} policy")
        figure.tight_layout()
        os.makedirs(plots, exist_ok=True)
        figure.savefig(os.path.join(plots, f"profile_{short}{suffix}.png"), dpi=100)
        plt.close(figure)
        lines += [f"![performance profile, {name}]({os.path.basename(plots)}/profile_{short}{suffix}.png)", ""]
    return "\n".join(lines)


def report(envs: list[str], seeds: list[int], command: str, plots: str) -> str:
    """The Markdown record of ``envs``; its plots are saved in the folder ``plots``, linked relative to its parent."""
    rows = [row for row in load_rows(RESULTS) if int(row["seed"]) in seeds]
    randoms = random_scores(envs)
    parts = []
    for env_id in envs:
        threshold, eval_freq, reference = ENVS[env_id]
        labels = labels_to_run(env_id, ALGOS)
        if not any(row["env"] == env_id for row in rows):
            continue
        header = ["algo", "hyperparameters", "budget", "seeds", "last eval, stochastic", "last eval, deterministic"]
        if threshold is not None:
            header += [f"reached {threshold:g} (stoch.), median steps", f"reached {threshold:g} (det.), median steps"]
        header += ["collapses stoch./det.", "REINFORCE at PPO's budget: stoch. / det."]
        for key in ("stochastic", "deterministic"):
            plot = os.path.join(plots, f"{env_id}_{key}.png")
            plot_curves(curves(env_id, labels, rows, key), plot, f"{env_id} ({key} policy)", "mean return (10 episodes)")
        thr = f"threshold {threshold:g}" if threshold is not None else "no reward threshold"
        longest = max(int(row["budget"]) for row in rows if row["env"] == env_id)  # of the runs shown
        slowest = eval_freq_of(env_id, longest)
        longer = f" ({slowest:,} for a {longest:,}-step run)" if slowest > eval_freq else ""
        parts += [
            f"## {env_id}\n",
            f"{thr}; random policy {randoms[env_id]:g}; reference score {reference:g}; evaluated every {eval_freq:,} steps"
            f"{longer}.\n",
            markdown_table(header, summary_rows(env_id, rows, labels)),
            f"\n![{env_id}, stochastic]({os.path.basename(plots)}/{env_id}_stochastic.png) "
            f"![{env_id}, deterministic]({os.path.basename(plots)}/{env_id}_deterministic.png)\n",
        ]
    # Atari games run on fewer seeds at a budget of their own: out of the aggregate
    parts = [
        "## Over all envs\n",
        aggregates([env_id for env_id in envs if not is_atari(env_id)], rows, seeds, plots),
        "",
        *parts,
    ]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    parts.append(f"Command: `{command}`; machine: {machine}; date: {time.strftime('%Y-%m-%d')}.")
    return "\n".join(parts)


def status(envs: list[str], seeds: list[int]) -> str:
    """
    Where the record stands, per env and algorithm of the record (at its own budget): the seeds finished (rows of the
    CSV) and those in progress (a checkpoint in results/zoo_benchmark_partial/, with the env steps it has reached).
    """
    rows = load_rows(RESULTS)
    table = []
    for env_id in envs:
        labels, env_seeds = record_of(env_id)
        env_seeds = [seed for seed in seeds if seed in env_seeds]
        for label in labels_to_run(env_id, labels):
            done = sorted(
                int(row["seed"]) for row in rows if row["config"] == f"{env_id}/{label}" and int(row["seed"]) in env_seeds
            )
            running = []
            for seed in sorted(set(env_seeds) - set(done)):
                checkpoint = os.path.join(PARTIAL, f"{env_id}_{label}_{seed}.partial", "curves.npz")
                if os.path.exists(checkpoint):
                    running.append(f"{seed} ({int(np.load(checkpoint)['timesteps'][-1]):,})")
            todo = len(env_seeds) - len(done) - len(running)
            cells = [env_id, label, f"{budget_of(label, env_id):,}", " ".join(map(str, done)) or "-", " ".join(running) or "-"]
            table.append([*cells, str(todo)])
    header = ["env", "algo", "budget", "seeds done", "in progress (env steps)", "not started"]
    return markdown_table(header, table)


def jobs_of(envs: list[str], algos: list[str] | None, seeds: list[int] | None) -> dict[tuple[str, int], tuple]:
    """The runs of ``algos`` on ``seeds`` (by default each env's record: ``record_of``), as ``run_resumable`` takes them."""
    jobs: dict[tuple[str, int], tuple] = {}
    for env_id in envs:
        record_labels, record_seeds = record_of(env_id)
        for label in labels_to_run(env_id, algos or record_labels):
            budget = budget_of(label, env_id)
            for seed in seeds or record_seeds:
                jobs[(f"{env_id}/{label}", seed)] = (run, (env_id, label, seed, budget, eval_freq_of(env_id, budget)))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--algos", nargs="+", choices=ALGOS, help="default: the record's (Atari: reinforce ppo_own)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0-4 (Atari: 0-2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler (tcp://HOST:8786): run the jobs on its workers, not --workers")
    parser.add_argument("--report-only", action="store_true", help="write the doc from the runs already done")
    parser.add_argument("--status", action="store_true", help="print the seeds done and in progress per env and algorithm")
    parser.add_argument("--output", default=os.path.join(DOCS, "benchmark.md"))
    args = parser.parse_args()
    record_configs()  # and the runs left unrecorded by an interrupted session

    envs = [env_id for env_id in args.envs if zoo_entry("reinforce", env_id)[0]]
    for env_id in sorted(set(args.envs) - set(envs)):
        print(f"{env_id}: no entry in zoo_configs/reinforce.yml, skipped", file=sys.stderr)
    seeds = args.seeds or SEEDS
    if args.status:
        print(status(envs, seeds))
        return
    random_scores(envs)
    if not args.report_only:
        run_resumable(RESULTS, FIELDS, jobs_of(envs, args.algos, args.seeds), args.workers, args.scheduler, outputs=CURVES)
    record_configs()
    command = "python benchmarks/zoo_benchmark.py " + " ".join(sys.argv[1:])
    # The plots go next to the report, in the folder named after it (docs/benchmark.md: docs/benchmark/)
    text = report(envs, seeds, command.strip(), os.path.splitext(args.output)[0])
    with open(args.output, "w") as file:
        file.write(HEADER + text + "\n")
    print(text)


HEADER = """# Benchmark of record: zoo_configs/reinforce.yml beside A2C and PPO

Every REINFORCE entry of `zoo_configs/reinforce.yml`, trained through the RL Zoo launcher (`python -m
sb3_reinforce.zoo train --algo reinforce --env <env> -n <budget> --seed <seed> ...`), and SB3's A2C and PPO on
rl_zoo3's own hyperparameters, trained by the same script in the same way for their own zoo `n_timesteps`
(`a2c_own`, `ppo_own`; labelled `a2c`, `ppo` where that budget is the REINFORCE entry's). `--algos a2c ppo` adds runs at
the REINFORCE entry's budget; they are shown where they were run (rl_zoo3 anneals `lin_` schedules over the budget it
is given, so they are not the zoo's tuned runs cut short). `reinforce_default`, the "untuned" row, is REINFORCE on the
file's `default` entry (the package's defaults) for that entry's 1M steps: what the zoo trains on an env without an entry
of its own. Every run is evaluated at most 100 times (the
env's period, or the budget / 100 where that is longer), on 10 episodes each time, twice: sampling its actions (the
stochastic policy, the one that is trained) and with deterministic actions. "last eval" is the evaluation at the end
of training (mean +/- std over seeds, and the worst seed); "reached" counts the seeds whose evaluation reached the
threshold, with the median over seeds of the env steps at which it first did (a seed that never did counts as
infinite); a run "collapses" when its last evaluation is closer to the random policy's score than to its own best
(`last - random < (best - random) / 2`; for a positive reward and a random score near 0, below half of its best).
Plots: the mean over seeds, shaded from the worst to the best seed. The aggregate normalizes each last evaluation to
`(score - random) / (reference - random)`; where A2C and PPO ran 3 seeds on an env (the CPU's limit on the envs of
issue 23), a second aggregate on seeds 0-2 covers it. An Atari game trains both algorithms on their `atari` entries for
the same budget, 2M env steps (the entries say 10M), on 3 seeds, and stays out of the aggregate.

"""

if __name__ == "__main__":
    main()

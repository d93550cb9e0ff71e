"""
The committed results describe the code: every result file records the configuration that produced it, and it is the
one the code would use now (benchmarks/current_results.py; examples/records.py). Nothing here trains.
"""

import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

import current_results  # noqa: E402
import zoo_benchmark  # noqa: E402

from examples import continuous_control  # noqa: E402
from examples import records  # noqa: E402


def test_every_result_file_is_listed() -> None:
    assert current_results.unregistered() == [], "add these files to benchmarks/current_results.py's results()"


def test_committed_results_are_current() -> None:
    problems = [problem for problem in current_results.stale() if current_results.CANNOT_CHECK not in problem]
    assert not problems, "stale results (regenerate them, or record them if the current code produced them):\n" + "\n".join(
        problems
    )


def use_zoo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_grad_norm: float) -> None:
    """Make the scripts read a copy of the zoo file with InvertedPendulum-v5's ``max_grad_norm`` set to this value."""
    (tmp_path / "zoo_configs").mkdir(exist_ok=True)
    entries = yaml.safe_load((ROOT / "zoo_configs" / "reinforce.yml").read_text())
    assert entries["InvertedPendulum-v5"]["max_grad_norm"] == 0.5
    entries["InvertedPendulum-v5"]["max_grad_norm"] = max_grad_norm
    path = tmp_path / "zoo_configs" / "reinforce.yml"
    path.write_text(yaml.safe_dump(entries))
    monkeypatch.setattr(zoo_benchmark, "ROOT", str(tmp_path))  # zoo_entry reads ROOT/zoo_configs/reinforce.yml
    monkeypatch.setattr(continuous_control, "ROOT", str(tmp_path))
    monkeypatch.setattr(continuous_control, "CONF_FILE", str(path))


def test_a_changed_zoo_entry_is_reported_with_the_files_and_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(current_results.stale())  # empty on a current tree
    use_zoo_file(tmp_path, monkeypatch, 5.0)
    new = [problem for problem in current_results.stale() if problem not in before]
    example = [problem for problem in new if problem.startswith("examples/results/continuous_control/results.md")]
    assert len(example) == 1, new
    assert "hyperparams.max_grad_norm: 0.5 -> 5.0" in example[0]
    assert "Regenerate: python -m examples.continuous_control" in example[0]
    benchmark = [problem for problem in new if problem.startswith("benchmarks/results/zoo_benchmark.csv")]
    assert len(benchmark) == 1, new
    assert "(shown in docs/benchmark.md): InvertedPendulum-v5/reinforce, seeds 0 1 2 3 4" in benchmark[0]
    assert "hyperparams.max_grad_norm: 0.5 -> 5.0" in benchmark[0]
    assert "python benchmarks/zoo_benchmark.py --envs InvertedPendulum-v5 --algos reinforce --seeds 0 1 2 3 4" in benchmark[0]
    assert len(new) == 2, new  # nothing that does not read that entry


def test_the_same_copy_of_the_zoo_file_unchanged_reports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(current_results.stale())
    use_zoo_file(tmp_path, monkeypatch, 0.5)
    assert set(current_results.stale()) == before


def test_a_changed_default_of_reinforce_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result that relies on a default (the MinAtar example: n_value_epochs) is stale when it changes; one whose
    configuration sets that value itself (the CartPole-v1 entry: n_value_epochs 10) is not."""
    from sb3_reinforce import REINFORCE

    defaults = records.algorithm_defaults

    def changed(algorithm: type) -> dict[str, Any]:
        values = defaults(algorithm)
        return {**values, "n_value_epochs": 4} if issubclass(algorithm, REINFORCE) else values

    before = set(current_results.stale())
    monkeypatch.setattr(records, "algorithm_defaults", changed)
    new = [problem for problem in current_results.stale() if problem not in before]
    minatar = [problem for problem in new if problem.startswith("examples/results/minatar_game/results.md")]
    assert len(minatar) == 1 and "algorithms.REINFORCE.hyperparams.n_value_epochs: 3 -> 4" in minatar[0], new
    assert not [problem for problem in new if "CartPole-v1/reinforce" in problem], new


# The records of a CSV file, on a small one


def write_rows(path: Path, keys: list[tuple[str, int]]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, ["config", "seed"])
        writer.writeheader()
        writer.writerows({"config": key, "seed": seed} for key, seed in keys)


def test_rows_are_checked_against_their_records(tmp_path: Path) -> None:
    path = str(tmp_path / "sweep.csv")
    write_rows(tmp_path / "sweep.csv", [("a", 0), ("a", 1), ("b", 0), ("c", 0)])
    records.record_runs(path, {("a", 0): {"lr": 1e-3}, ("a", 1): {"lr": 3e-3}}, "the run")
    records.record_runs(path, {("b", 0): {"lr": 1.0}}, "the run", historical="kept as history")
    assert tmp_path.joinpath("sweep.configs.json").exists()
    assert [len(v["seeds"]) for v in records.load_records(path)["runs"]["a"]] == [1, 1]  # one variant per configuration

    def current(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
        return {"lr": 1e-3} if key in ("a", "b") else None

    problems = records.check_rows(path, current, allow_historical=True)
    assert problems == {
        ("a", "recorded configuration differs from the current one: lr: 0.003 -> 0.001"): [1],
        ("c", "no recorded configuration"): [0],
    }
    strict = records.check_rows(path, current, allow_historical=False)
    assert [seeds for (key, problem), seeds in strict.items() if key == "b" and "historical" in problem] == [[0]]


def test_a_queued_job_is_recorded_and_a_kept_row_of_another_configuration_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "sweep.csv")
    write_rows(tmp_path / "sweep.csv", [("a", 0)])
    records.record_runs(path, {("a", 0): {"lr": 1e-3}}, "the run")
    records.record_queued(path, {("a", 0): {"lr": 3e-3}, ("a", 1): {"lr": 3e-3}}, "the run")
    assert records.variant_of(records.load_records(path), "a", 0)["config"] == {"lr": 1e-3}  # type: ignore[index]
    assert records.variant_of(records.load_records(path), "a", 1)["config"] == {"lr": 3e-3}  # type: ignore[index]
    assert "a seeds 0" in capsys.readouterr().out


def test_zoo_benchmark_records_its_runs_and_on_request_rows_without_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run leaves its configuration beside its curve (run()), main() records it; ``current_results.py --record``
    records the rows that have none from the current entry, unless their budget is not the entry's."""
    results, curves = tmp_path / "benchmarks" / "results" / "zoo_benchmark.csv", tmp_path / "zoo_benchmark"
    results.parent.mkdir(parents=True)
    monkeypatch.setattr(zoo_benchmark, "RESULTS", str(results))
    monkeypatch.setattr(zoo_benchmark, "CURVES", str(curves))
    budget = zoo_benchmark.budget_of("reinforce", "CartPole-v1")
    with open(results, "w", newline="") as file:
        writer = csv.DictWriter(file, ["config", "env", "algo", "seed", "budget"])
        writer.writeheader()
        for seed, steps in ((0, budget), (1, budget), (2, budget // 2)):
            writer.writerow(dict(config="CartPole-v1/reinforce", env="CartPole-v1", algo="reinforce", seed=seed, budget=steps))
    curves.mkdir()
    entry = dict(zoo_benchmark.zoo_entry("reinforce", "CartPole-v1")[0], learning_rate=0.5)  # what seed 1 ran
    used = dict(config="CartPole-v1/reinforce", seed=1, entry=entry, budget=budget, eval_freq=5000, env="CartPole-v1")
    (curves / "CartPole-v1_reinforce_1.config.json").write_text(json.dumps(dict(used, label="reinforce", threshold=475.0)))

    zoo_benchmark.record_configs()
    assert not (curves / "CartPole-v1_reinforce_1.config.json").exists()
    saved = records.load_records(str(results))
    assert records.variant_of(saved, "CartPole-v1/reinforce", 1)["config"]["hyperparams"]["learning_rate"] == 0.5  # type: ignore[index]
    assert records.variant_of(saved, "CartPole-v1/reinforce", 0) is None

    current_results.record_current(str(results), ["CartPole-v1/reinforce"], root=str(tmp_path))
    out = capsys.readouterr().out
    assert "RECORDED FROM THE CURRENT DEFINITIONS: CartPole-v1/reinforce seed 0" in out
    assert "NOT RECORDED: CartPole-v1/reinforce seed 2" in out
    saved = records.load_records(str(results))
    assert records.variant_of(saved, "CartPole-v1/reinforce", 0)["config"] == zoo_benchmark.config_record(  # type: ignore[index]
        "CartPole-v1", "reinforce"
    )
    assert "--record" in records.variant_of(saved, "CartPole-v1/reinforce", 0)["source"]  # type: ignore[index]
    assert records.variant_of(saved, "CartPole-v1/reinforce", 1)["config"]["hyperparams"]["learning_rate"] == 0.5  # type: ignore[index]
    assert records.variant_of(saved, "CartPole-v1/reinforce", 2) is None


def test_an_example_records_its_configuration(tmp_path: Path) -> None:
    """What the example writes beside its results is what the check compares (its run_config, canonical)."""
    args = continuous_control.parse_args(["--output-dir", str(tmp_path)])
    records.write_example_record(str(tmp_path), continuous_control.MODULE, [], continuous_control.run_config(args))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["command"] == "python -m examples.continuous_control"
    assert records.differences(saved["config"], records.canonical(continuous_control.run_config(args))) == []


def test_an_option_added_off_keeps_older_records_current() -> None:
    """A record made before ``kl_coef`` existed is current while the code runs with it off, and stale once it is on."""
    recorded = records.canonical({"hyperparams": {"gamma": 0.99}})
    off = records.canonical({"hyperparams": {"gamma": 0.99, "kl_coef": 0.0, "value_warmup_steps": 0}})
    on = records.canonical({"hyperparams": {"gamma": 0.99, "kl_coef": 0.1}})
    assert records.differences(recorded, off) == []
    assert records.differences(recorded, on) == ["hyperparams.kl_coef: '(absent)' -> 0.1"]


def test_the_untuned_label_trains_the_default_entry_for_its_own_budget() -> None:
    """``reinforce_default``: the zoo file's ``default`` entry, for its ``n_timesteps``, as the zoo trains an untuned env."""
    entry, source = zoo_benchmark.zoo_entry("reinforce_default", "Hopper-v5")
    assert "default" in source and "n_steps" not in entry and entry["policy"] == "MlpPolicy"
    assert zoo_benchmark.budget_of("reinforce_default", "Hopper-v5") == int(float(entry["n_timesteps"])) == 1_000_000
    assert zoo_benchmark.budget_of("reinforce", "Hopper-v5") == 3_000_000  # the tuned entry's, not the untuned run's
    record = zoo_benchmark.config_record("Hopper-v5", "reinforce_default")
    assert record is not None and record["hyperparams"]["n_steps"] == 128  # REINFORCE's own default


def test_the_default_grid_runs_an_atari_game_beside_ppo_on_3_seeds() -> None:
    """Without --algos and --seeds: each env's record; an Atari game's is REINFORCE and PPO on seeds 0-2 (no A2C)."""
    jobs = zoo_benchmark.jobs_of(["CartPole-v1", "BreakoutNoFrameskip-v4"], None, None)
    cartpole = {key for key in jobs if key[0].startswith("CartPole-v1/")}
    assert cartpole == {(f"CartPole-v1/{label}", seed) for label in ("reinforce", "a2c_own", "ppo_own") for seed in range(5)}
    atari = {key for key in jobs if key[0].startswith("BreakoutNoFrameskip-v4/")}
    assert atari == {(f"BreakoutNoFrameskip-v4/{label}", seed) for label in ("reinforce", "ppo") for seed in range(3)}
    asked = zoo_benchmark.jobs_of(["BreakoutNoFrameskip-v4"], ["a2c"], [3])  # what is asked for runs
    assert list(asked) == [("BreakoutNoFrameskip-v4/a2c", 3)]
    status = zoo_benchmark.status(["BreakoutNoFrameskip-v4"], zoo_benchmark.SEEDS)
    assert "| BreakoutNoFrameskip-v4 | a2c |" not in status and "| BreakoutNoFrameskip-v4 | ppo |" in status


def test_committed_checkpoints_can_be_resumed() -> None:
    """retune_sweep.py goes on from a long run's checkpoint: the clone must have all of it (a *.zip rule once hid it)."""
    tracked = subprocess.run(["git", "ls-files", "benchmarks/results"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = set(tracked.stdout.split())
    checkpoints = {str(Path(path).parent) for path in files if ".partial/" in path}
    for checkpoint in sorted(checkpoints):
        assert f"{checkpoint}/model.zip" in files and f"{checkpoint}/curves.npz" in files, f"{checkpoint}: not committed whole"
        with zipfile.ZipFile(ROOT / checkpoint / "model.zip") as archive:
            trained = json.loads(archive.read("data"))["num_timesteps"]
        evaluated = int(np.load(ROOT / checkpoint / "curves.npz")["timesteps"][-1])
        assert trained == evaluated, f"{checkpoint}: the model has {trained} steps, its curves {evaluated}"


def test_the_retune_sweep_tables_in_the_benchmarks_readme_are_the_scripts_output() -> None:
    """benchmarks/README.md quotes retune_sweep.py's tables: every row it prints is a row that ``retune_sweep.py --env
    ENV --report-only`` prints now from benchmarks/results/retune_sweep.csv (a rerun or a changed row shows here)."""
    import retune_sweep
    from common import load_rows

    rows = load_rows(retune_sweep.RESULTS)
    generated = set()
    for env_id, (threshold, *_) in retune_sweep.ENVS.items():
        if any(row["env"] == env_id for row in rows):
            generated |= set(retune_sweep.table([row for row in rows if row["env"] == env_id], threshold).splitlines()[2:])
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8").split("## Retuning with the value fit")[1]
    quoted = []
    for table in re.findall(r"^\| config \| seeds \| reached .*\n\|---.*\n((?:\|.*\n)+)", text, flags=re.MULTILINE):
        quoted += table.splitlines()
    assert len(quoted) >= 40
    assert not [row for row in quoted if row not in generated], "rows not printed by retune_sweep.py --report-only"


def test_the_aggregate_covers_the_envs_where_a2c_and_ppo_ran_3_seeds_on_those_seeds(tmp_path: Path) -> None:
    """The issue allows A2C and PPO 3 seeds on the envs the CPU limits: the 5-seed aggregate leaves such an env out, and
    a second aggregate on seeds 0-2 covers it; with every env on 5 seeds there is no second one."""
    rows = []
    for env_id, seeds in (("CartPole-v1", range(5)), ("Acrobot-v1", range(3))):
        for algo in zoo_benchmark.RECORD:
            for seed in seeds:
                score = {"reinforce": 0.9, "a2c_own": 0.5, "ppo_own": 0.7}[algo] + 0.01 * seed
                reference, random = zoo_benchmark.ENVS[env_id][2], zoo_benchmark.random_scores([env_id])[env_id]
                last = str(random + score * (reference - random))
                label = zoo_benchmark.resolved(algo, env_id)
                rows.append(dict(env=env_id, algo=label, seed=str(seed), last_stoch=last, last_det=last))
    text = zoo_benchmark.aggregates(["CartPole-v1", "Acrobot-v1"], rows, [0, 1, 2, 3, 4], str(tmp_path))
    assert "over 5 seeds x 1 envs (CartPole-v1)" in text and "(Acrobot-v1: not every algorithm" in text
    assert "### On seeds 0, 1, 2" in text and "over 3 seeds x 2 envs (CartPole-v1, Acrobot-v1)" in text
    assert (tmp_path / "profile_stoch_3seeds.png").exists()
    iqm = re.search(r"\| reinforce \| (\d+\.\d+) \|", text)
    assert iqm is not None and 0.9 <= float(iqm.group(1)) <= 0.95
    full = [row for row in rows if row["env"] == "CartPole-v1"]
    assert "### On seeds" not in zoo_benchmark.aggregates(["CartPole-v1"], full, [0, 1, 2, 3, 4], str(tmp_path))


def test_the_standard_suite_section_quotes_only_scores_the_scripts_print() -> None:
    """Every score in benchmarks/README.md's standard-suite section (a number with one decimal) is one that
    docs/benchmark.md (generated from results/zoo_benchmark.csv) or ``retune_sweep.py --report-only`` prints."""
    import retune_sweep
    from common import load_rows

    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    section = text.split("## The standard suite (issue 23)")[1].split("\n## ")[0]
    rows = load_rows(retune_sweep.RESULTS)
    printed = (ROOT / "docs" / "benchmark.md").read_text(encoding="utf-8")
    for env_id, (threshold, *_) in retune_sweep.ENVS.items():
        if any(row["env"] == env_id for row in rows):
            printed += retune_sweep.table([row for row in rows if row["env"] == env_id], threshold)
    score = r"(?<![\d.])-?\d+\.\d(?![\dMk])"  # one decimal: not 0.99 (a hyperparameter) nor 1.5M (env steps)
    figures = re.findall(score, section)
    assert len(figures) >= 10
    assert not set(figures) - set(re.findall(score, printed)), "scores not printed by the scripts"

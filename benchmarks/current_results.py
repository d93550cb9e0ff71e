"""
Every committed result of this project, and whether the code still produces it: each result records the configuration
that produced it (examples/records.py), and each script says what it would use now (its ``config_record`` or
``run_config``). A result is stale when the two differ: a zoo entry, a default of REINFORCE's ``__init__``, an example's
constants or a sweep's definitions changed since it was produced. tests/test_results_current.py fails on a stale result,
naming the file and the command that regenerates it. Nothing here trains: the check takes seconds.

    python benchmarks/current_results.py                                   # list the stale results
    python benchmarks/current_results.py --record benchmarks/results/retune_sweep.csv KEY [KEY ...]

``--record`` records, from the current definitions, the configuration of the rows of KEY (a value of the CSV file's
``config`` column) that have no record: for rows produced by the current definitions with a copy of a script that
predates the records. Nothing can check that they were, so it prints every row it records.
"""

import argparse
import contextlib
import csv
import dataclasses
import functools
import fnmatch
import glob
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]
from examples.records import canonical, check_rows, differences, load_records, read_json, record_runs  # noqa: E402

# Kept as history: rows recorded with "historical" are allowed in these files (not in a table presented as current)
PRE_VALUE_FIT = (
    "run on 2026-11-25, before the value fit (n_value_epochs) and target_kl existed and while max_grad_norm clipped the "
    "policy's and the value's gradients together (both changed on 2026-11-29): the current code does not reproduce "
    "these rows; they are the measurements the decisions of that day rest on"
)

CANNOT_CHECK = "cannot be checked here: the example does not load"
RECORD_COMMAND = "python benchmarks/current_results.py --record"


@dataclasses.dataclass
class Result:
    """
    A committed result. ``kind``: "example" (``path`` is an example's results.md, with config.json beside it), "rows"
    (a CSV file of runs, with <name>.configs.json beside it) or "unchecked" (``path`` may be a glob pattern; ``note``
    says why it is not checked).

    :param current: "example": () -> the configuration of the default command now; "rows": (key, recorded
        configuration or None) -> the configuration of ``key`` now (None: no longer defined)
    :param regenerate: "example": () -> the command; "rows": (key, seeds) -> the commands for those rows
    :param shown_in: where the result is presented
    :param note: "rows": why rows kept as history are allowed here (None: none are); "unchecked": why it is not checked
    """

    path: str
    kind: str
    current: Callable[..., Any] | None = None
    regenerate: Callable[..., str] | None = None
    shown_in: str = ""
    note: str | None = None


def _seeds(seeds: list[int]) -> str:
    return " ".join(map(str, seeds))


def _example(module: str) -> Callable[[], dict[str, Any]]:
    def current() -> dict[str, Any]:
        import importlib

        example = importlib.import_module(f"examples.{module}")
        return example.run_config(example.parse_args([]))

    return current


def _zoo_benchmark(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    import zoo_benchmark

    env_id, label = key.split("/", 1)
    return zoo_benchmark.config_record(env_id, label)


def _zoo_benchmark_command(key: str, seeds: list[int]) -> str:
    env_id, label = key.split("/", 1)
    return (
        f"delete these rows (finished runs are skipped), then python benchmarks/zoo_benchmark.py --envs {env_id} "
        f"--algos {label} --seeds {_seeds(seeds)}, then python benchmarks/zoo_benchmark.py --report-only"
    )


def _cartpole_sweep(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    import cartpole_sweep

    if recorded is None:  # the budget and evaluation period come from the command line
        return None
    return cartpole_sweep.config_record(key, recorded["budget"], recorded["eval_freq"])


def _cartpole_sweep_command(key: str, seeds: list[int]) -> str:
    import cartpole_sweep

    group = next((name for name, configs in cartpole_sweep.GROUPS.items() if key in configs), "?")
    return (
        f"delete these rows, then python benchmarks/cartpole_sweep.py --group {group} --configs {key} "
        f"--seeds {_seeds(seeds)} (with the recorded --budget and --eval-freq)"
    )


def _env_sweep(script: str) -> tuple[Callable[..., Any], Callable[..., str]]:
    """``current`` and ``regenerate`` of a sweep keyed "<env>/<config name>" with ``config_record(env, name)``."""

    def current(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
        import importlib

        return importlib.import_module(script).config_record(*key.split("/", 1))

    def regenerate(key: str, seeds: list[int]) -> str:
        env_id, name = key.split("/", 1)
        return f"delete these rows, then python benchmarks/{script}.py --env {env_id} --configs {name} --seeds {_seeds(seeds)}"

    return current, regenerate


def _keyed_sweep(script: str) -> tuple[Callable[..., Any], Callable[..., str]]:
    """``current`` and ``regenerate`` of a script keyed by config name with ``config_record(name)`` and --seeds."""

    def current(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
        import importlib

        return importlib.import_module(script).config_record(key)

    def regenerate(key: str, seeds: list[int]) -> str:
        return f"delete these rows, then python benchmarks/{script}.py --seeds {_seeds(seeds)}"

    return current, regenerate


def _fine_tuning(section: str) -> tuple[Callable[..., Any], Callable[..., str]]:
    """``current`` and ``regenerate`` of a section of fine_tuning.py (keys "<env>/<variant>", ``config_record(key)``)."""

    def current(key: str, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
        import importlib

        return importlib.import_module("fine_tuning").config_record(key)

    def regenerate(key: str, seeds: list[int]) -> str:
        env_id, variant = key.split("/", 1)
        where = "" if section != "groups" else f" --envs {env_id}"
        return (
            f"delete these rows, then python benchmarks/fine_tuning.py --section {section}{where} --variants {variant} "
            f"--seeds {_seeds(seeds)}"
        )

    return current, regenerate


def results() -> list[Result]:
    """Every committed result (tests/test_results_current.py fails on a file of examples/results/ or
    benchmarks/results/ that is not here)."""
    examples = [
        Result(
            f"examples/results/{name}/results.md",
            "example",
            _example(name),
            lambda name=name: f"python -m examples.{name}, then update the figures docs/examples.md quotes from it",
            "docs/examples.md",
        )
        for name in ("continuous_control", "minatar_game", "text_generation")
    ]
    rows = [
        Result("benchmarks/results/zoo_benchmark.csv", "rows", _zoo_benchmark, _zoo_benchmark_command, "docs/benchmark.md"),
        Result("benchmarks/results/retune_sweep.csv", "rows", *_env_sweep("retune_sweep"), "benchmarks/README.md"),
        Result("benchmarks/results/zoo_cartpole.csv", "rows", *_keyed_sweep("zoo_cartpole"), "benchmarks/README.md"),
        Result("benchmarks/results/maskable.csv", "rows", *_keyed_sweep("maskable"), "README.md"),
        Result(
            "benchmarks/results/cartpole_sweep.csv",
            "rows",
            _cartpole_sweep,
            _cartpole_sweep_command,
            "benchmarks/README.md",
            PRE_VALUE_FIT,
        ),
        Result("benchmarks/results/zoo_sweep.csv", "rows", *_env_sweep("zoo_sweep"), "benchmarks/README.md", PRE_VALUE_FIT),
        *(
            Result(f"benchmarks/results/fine_tuning_{section}.csv", "rows", *_fine_tuning(section), "docs/examples.md")
            for section in ("groups", "cloned", "text")
        ),
    ]
    unchecked = [
        ("benchmarks/results/zoo_cartpole.md", "generated with zoo_cartpole.csv, which is checked"),
        ("benchmarks/results/*.configs.json", "the records themselves"),
        ("benchmarks/results/zoo_benchmark_2026-11-25*", "the record of 2026-11-25, kept as history under its date"),
        ("benchmarks/results/text_generation_trials.jsonl", "one-seed trials on the example's previous features: history"),
        ("benchmarks/results/throughput*.md", "speed measurements (their settings are throughput.py's), not learning results"),
        ("benchmarks/results/random_scores.json", "the random policy's scores: data, no configuration"),
        ("benchmarks/results/fine_tuning_*.md", "generated with fine_tuning_<section>.csv, which is checked"),
    ]
    return [*examples, *rows, *(Result(path, "unchecked", note=note) for path, note in unchecked)]


@contextlib.contextmanager
def _zoo_files_read_once() -> Iterator[None]:
    """Within one check, each zoo entry is read once (``zoo_benchmark.zoo_entry`` parses a YAML file at every call)."""
    import zoo_benchmark

    read = zoo_benchmark.zoo_entry
    zoo_benchmark.zoo_entry = functools.cache(read)
    try:
        yield
    finally:
        zoo_benchmark.zoo_entry = read


def stale(root: str = ROOT) -> list[str]:
    """One line per stale result (or group of rows of one configuration): the file, what differs, how to regenerate."""
    with _zoo_files_read_once():
        return _stale(root)


def _stale(root: str) -> list[str]:
    problems = []
    for result in results():
        path = os.path.join(root, result.path)
        where = f"{result.path} (shown in {result.shown_in})"
        if result.kind == "example":
            assert result.current is not None and result.regenerate is not None
            record = read_json(os.path.join(os.path.dirname(path), "config.json"))
            if record is None:
                problems.append(f"{where}: no recorded configuration (config.json). Regenerate: {result.regenerate()}")
                continue
            try:
                now = canonical(result.current())
            except (ImportError, SystemExit) as error:  # the example's extra is not installed
                problems.append(f"{where}: {CANNOT_CHECK} ({error!r}: pip install -e '.[examples]')")
                continue
            except (KeyError, ValueError) as error:  # the entry or constant it reads is gone
                problems.append(f"{where}: its configuration is not defined now ({error}). Regenerate: {result.regenerate()}")
                continue
            changed = differences(record["config"], now)
            if changed:
                problems.append(
                    f"{where}: recorded configuration differs from the current one: {'; '.join(changed)}. "
                    f"Regenerate: {result.regenerate()}"
                )
        elif result.kind == "rows":
            assert result.current is not None and result.regenerate is not None
            found = check_rows(path, result.current, allow_historical=result.note is not None)
            for (key, problem), seeds in found.items():
                command = result.regenerate(key, seeds)
                if problem == "no recorded configuration":
                    command += f" (if the current definitions produced them: {RECORD_COMMAND} {result.path} {key!r})"
                problems.append(f"{where}: {key}, seeds {_seeds(seeds)}: {problem}. Regenerate: {command}")
    return problems


def unregistered(root: str = ROOT) -> list[str]:
    """The result files under examples/results/ and benchmarks/results/ that ``results()`` does not list."""
    known = [result.path for result in results()]
    found = glob.glob(os.path.join(root, "examples", "results", "*", "results.md"))
    found += [p for p in glob.glob(os.path.join(root, "benchmarks", "results", "*")) if os.path.isfile(p)]
    relative = sorted(os.path.relpath(p, root) for p in found)
    return [p for p in relative if not any(fnmatch.fnmatch(p, pattern) for pattern in known)]


def record_current(csv_path: str, keys: list[str], root: str = ROOT) -> None:
    """
    Record the rows of ``keys`` in ``csv_path`` that have no record, from the current definitions, printing each: for
    rows made by a copy of a script that predates the records. That is right only if the current definitions produced
    those rows, which nothing here can check, except that a row whose budget is not the current one is left unrecorded.
    """
    result = next(r for r in results() if os.path.abspath(os.path.join(root, r.path)) == os.path.abspath(csv_path))
    assert result.kind == "rows" and result.current is not None
    records, configs = load_records(csv_path), {}
    with open(csv_path) as file:
        budgets = {(row["config"], int(row["seed"])): row.get("budget") for row in csv.DictReader(file)}
    for (key, seed), budget in sorted(budgets.items()):
        if key in keys and not any(seed in variant["seeds"] for variant in records["runs"].get(key, [])):
            config = result.current(key, None)
            if config is None:
                print(f"NOT RECORDED: {key} seed {seed}: the current definitions cannot say (see {result.path}'s script)")
                continue
            if budget and "budget" in config and int(budget) != config["budget"]:
                print(f"NOT RECORDED: {key} seed {seed}: trained for {budget} steps; now {config['budget']}")
                continue
            configs[(key, seed)] = config
            print(f"RECORDED FROM THE CURRENT DEFINITIONS: {key} seed {seed}: {canonical(config)}", flush=True)
    source = f"--record on {time.strftime('%Y-%m-%d')}: the definitions of that day, taken to be the ones the row ran"
    record_runs(csv_path, configs, source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", nargs="+", metavar=("CSV", "KEY"), help="record rows of these keys that have no record")
    args = parser.parse_args()
    if args.record:
        if len(args.record) < 2:
            parser.error("--record needs a CSV file and at least one key")
        record_current(args.record[0], args.record[1:])
        return
    problems = stale() + [f"{path}: not listed in benchmarks/current_results.py" for path in unregistered()]
    print("\n".join(problems) if problems else "Every committed result is current.")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

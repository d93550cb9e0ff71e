"""
The configuration that produced a committed result, recorded beside it, so that a test can tell when the code has moved
on (``tests/test_results_current.py``, with the list of committed results in ``benchmarks/current_results.py``).

A record is JSON, written by the script that produced the result:

- an example's is ``<output dir>/config.json``: ``{"command": ..., "config": ..., "source": ...}``, the configuration
  of its run with everything resolved (its constants, the zoo entry it read, the algorithm's keyword defaults for the
  rest), and how it was recorded;
- a benchmark CSV file's is ``<name>.configs.json`` beside it: ``{"note": ..., "runs": {key: [variant, ...]}}``, keyed
  by the CSV's ``config`` column, each variant ``{"config": ..., "seeds": [...], "source": ...}``: the configuration
  the rows of those seeds were produced by, and how it was recorded. A key has one variant unless its configuration
  changed between seeds. A variant with ``"historical": reason`` is kept as history: it is not what the code runs now.

"Resolved" means the algorithm's keyword defaults are written out (``resolved_hyperparams``), so that a change of a
default shows as a change of every record that relied on it.
"""

import contextlib
import csv
import fcntl
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from examples.common import command_line

# Keyword arguments of an algorithm that are not part of what it learns: where it runs and what it prints
NOT_CONFIGURATION = ("self", "policy", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model")
# What rl_zoo3 (and benchmarks/common.build) use for the keys a zoo-style config may leave out
ZOO_DEFAULTS = {"n_envs": 1, "policy": "MlpPolicy", "normalize": False}


def canonical(value: Any) -> Any:
    """``value`` as JSON would give it back: dicts (keys as strings), lists, numbers, strings; a class or function by its
    name, anything else by its ``repr``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, type) or inspect.isfunction(value):
        return value.__qualname__  # not its module: moving a class does not change what it computes
    return repr(value)


def algorithm_defaults(algorithm: type) -> dict[str, Any]:
    """The keyword defaults of ``algorithm.__init__`` that shape what it learns (not ``NOT_CONFIGURATION``)."""
    parameters = inspect.signature(algorithm).parameters.values()  # the signature of its __init__
    return {p.name: canonical(p.default) for p in parameters if p.default is not p.empty and p.name not in NOT_CONFIGURATION}


def resolved_hyperparams(algorithm: type, hyperparams: Mapping[str, Any], zoo_style: bool = True) -> dict[str, Any]:
    """``hyperparams`` over ``algorithm``'s keyword defaults (and, ``zoo_style``, over ``ZOO_DEFAULTS``)."""
    return canonical({**(ZOO_DEFAULTS if zoo_style else {}), **algorithm_defaults(algorithm), **hyperparams})


# Hyperparameters added after results were recorded, at the value that does exactly what the code did before they
# existed (the option off: nothing computed): a record without them is current when the code uses that value.
ADDED_OFF = {"kl_coef": 0.0, "kl_penalty": "reward", "value_warmup_steps": 0}


def differences(recorded: Any, current: Any, prefix: str = "") -> list[str]:
    """What differs between two canonical configurations, one ``"key: recorded -> current"`` line per leaf."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        lines = []
        for key in sorted(set(recorded) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in recorded and key in ADDED_OFF and current[key] == ADDED_OFF[key]:
                continue
            if key not in recorded or key not in current:
                lines.append(f"{name}: {recorded.get(key, '(absent)')!r} -> {current.get(key, '(absent)')!r}")
            else:
                lines += differences(recorded[key], current[key], name)
        return lines
    return [] if recorded == current else [f"{prefix or 'value'}: {recorded!r} -> {current!r}"]


def read_json(path: str) -> Any:
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)


def _write_json(path: str, data: Any) -> None:
    """Write ``data`` to ``path`` at once (a reader never sees half a file)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as file:
        json.dump(data, file, indent=1, sort_keys=True)
        file.write("\n")
    os.replace(file.name, path)


# An example's record


def write_example_record(
    output_dir: str, module: str, argv: Sequence[str] | None, config: Mapping[str, Any], source: str = "the run"
) -> None:
    """
    ``<output_dir>/config.json``: the command (``python -m module argv``, as ``examples.common.write_report`` writes it)
    and the resolved configuration of the run that wrote the results there.
    """
    record = {"command": command_line(module, argv), "config": canonical(config), "source": source}
    _write_json(os.path.join(output_dir, "config.json"), record)


# A benchmark CSV file's records


def sidecar(csv_path: str) -> str:
    """Where the records of a CSV file's rows are: ``<name>.configs.json`` beside ``<name>.csv``."""
    return os.path.splitext(csv_path)[0] + ".configs.json"


def load_records(csv_path: str) -> dict[str, Any]:
    return read_json(sidecar(csv_path)) or {"runs": {}}


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` (two scripts recording at once take turns)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def variant_of(records: Mapping[str, Any], key: str, seed: int) -> dict[str, Any] | None:
    """The variant of ``key`` that holds ``seed``, if any."""
    return next((v for v in records["runs"].get(key, []) if seed in v["seeds"]), None)


def record_runs(
    csv_path: str, configs: Mapping[tuple[str, int], Mapping[str, Any]], source: str, historical: str | None = None
) -> None:
    """Record that the rows (key, seed) of ``csv_path`` come (or will come) from ``configs``; replaces their records."""
    if not configs:
        return
    with _locked(csv_path):
        records = load_records(csv_path)
        runs = records["runs"]
        for (key, seed), config in configs.items():
            variants = runs.setdefault(key, [])
            for variant in variants:
                variant["seeds"] = [s for s in variant["seeds"] if s != seed]
            new = {"config": canonical(config), "source": source, **({"historical": historical} if historical else {})}
            same = next((v for v in variants if {k: v[k] for k in v if k != "seeds"} == new), None)
            if same is None:
                variants.append(same := {**new, "seeds": []})
            same["seeds"] = sorted([*same["seeds"], seed])
            runs[key] = [variant for variant in variants if variant["seeds"]]
        _write_json(sidecar(csv_path), records)


def record_queued(csv_path: str, configs: Mapping[tuple[str, int], Mapping[str, Any]], source: str) -> None:
    """
    Before a resumable run of the jobs (key, seed) -> configuration ``configs``: record the configurations of the jobs
    whose rows are not in ``csv_path`` yet (those that will run), and warn about the jobs that will be skipped although
    their rows were recorded with another configuration (or none).
    """
    done = done_rows(csv_path)
    record_runs(csv_path, {job: config for job, config in configs.items() if job not in done}, source)
    records = load_records(csv_path)
    kept: dict[str, list[int]] = {}
    for (key, seed), config in configs.items():
        variant = variant_of(records, key, seed) if (key, seed) in done else None
        if (key, seed) in done and (variant is None or differences(variant["config"], canonical(config))):
            kept.setdefault(key, []).append(seed)
    for key, seeds in kept.items():
        print(
            f"WARNING: {key} seeds {' '.join(map(str, seeds))}: their rows in {csv_path} were produced by another "
            "configuration than this one (or have no record): they are skipped; delete them to run them again",
            flush=True,
        )


def done_rows(csv_path: str) -> set[tuple[str, int]]:
    """The (config, seed) of the rows of ``csv_path``."""
    if not os.path.exists(csv_path):
        return set()
    with open(csv_path) as file:
        return {(row["config"], int(row["seed"])) for row in csv.DictReader(file)}


def check_rows(
    csv_path: str, current: Callable[[str, dict[str, Any]], dict[str, Any] | None], allow_historical: bool
) -> dict[tuple[str, str], list[int]]:
    """
    Compare the record of every row of ``csv_path`` with what the code would use now: ``current(key, recorded)`` (the
    recorded configuration is given for the parts a command line sets; ``None``: the code no longer defines ``key``).

    :return: (key, problem) -> the seeds of the rows that have it; empty when every row is current (or, with
        ``allow_historical``, kept as history)
    """
    records = load_records(csv_path)
    problems: dict[tuple[str, str], list[int]] = {}
    known: dict[tuple[str, str], dict[str, Any] | None] = {}  # current(...) of each (key, recorded configuration)
    for key, seed in sorted(done_rows(csv_path)):
        variant = variant_of(records, key, seed)
        if variant is None:
            problem = "no recorded configuration"
        elif "historical" in variant:
            if allow_historical:
                continue
            problem = f"recorded as historical ({variant['historical']}), in a table presented as current"
        else:
            memo = (key, json.dumps(variant["config"], sort_keys=True))
            if memo not in known:
                known[memo] = current(key, variant["config"])
            now = known[memo]
            if now is None:
                problem = "the code no longer defines this configuration"
            else:
                changed = differences(variant["config"], canonical(now))
                if not changed:
                    continue
                problem = "recorded configuration differs from the current one: " + "; ".join(changed)
        problems.setdefault((key, problem), []).append(seed)
    return problems

"""What every example does at the end: a learning curve over seeds (PNG) and a result table (markdown)."""

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback


class CurveCallback(BaseCallback):
    """
    Record a learning curve: ``evaluate(model)`` every ``eval_freq`` env steps (counted over all envs), and once
    before training starts.

    :param evaluate: returns the figure to plot (for example a mean evaluation return) for the current model
    :param eval_freq: env steps between two evaluations
    """

    def __init__(self, evaluate: Callable[[BaseAlgorithm], float], eval_freq: int):
        super().__init__()
        self.evaluate = evaluate
        self.eval_freq = eval_freq
        self.steps: list[int] = []
        self.values: list[float] = []
        self._next = 0

    def _record(self) -> None:
        self.steps.append(self.num_timesteps)
        self.values.append(float(self.evaluate(self.model)))
        self._next = self.num_timesteps + self.eval_freq

    def _on_training_start(self) -> None:
        self._record()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._record()
        return True

    def _on_training_end(self) -> None:
        if self.steps[-1] != self.num_timesteps:
            self._record()


def plot_curves(curves: dict[str, list[tuple[Sequence[int], Sequence[float]]]], path: str, title: str, ylabel: str) -> None:
    """
    Plot one line per label: the mean over seeds with the min-max band, each seed's curve interpolated on a common grid
    of env steps.

    :param curves: label -> one (steps, values) pair per seed
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for label, runs in curves.items():
        grid = np.unique(np.concatenate([np.asarray(steps) for steps, _ in runs]))
        values = np.array([np.interp(grid, steps, vals) for steps, vals in runs])
        axis.plot(grid, values.mean(axis=0), label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        axis.fill_between(grid, values.min(axis=0), values.max(axis=0), alpha=0.2)
    axis.set(title=title, xlabel="env steps", ylabel=ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values: Sequence[float], digits: int = 1) -> str:
    return f"{np.mean(values):.{digits}f} +/- {np.std(values):.{digits}f}"


def command_line(module: str | None = None, argv: Sequence[str] | None = None) -> str:
    """``python -m module argv`` (default: the module and arguments of this process)."""
    module = module or os.path.splitext(os.path.relpath(sys.argv[0]))[0].replace(os.sep, ".")
    return " ".join(["python -m", module, *(sys.argv[1:] if argv is None else argv)])


def write_report(output_dir: str, title: str, body: str, module: str | None = None, argv: Sequence[str] | None = None) -> str:
    """
    Write ``body`` to ``output_dir``/results.md under ``title``, with the command, machine and date; return the text.

    :param module: the example's module, as ``python -m`` runs it (default: read from ``sys.argv[0]``)
    :param argv: its arguments (default: ``sys.argv[1:]``)
    """
    command = command_line(module, argv)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    text = f"# {title}\n\n{body}\n\nCommand: `{command}`; machine: {machine}; date: {time.strftime('%Y-%m-%d')}.\n"
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "results.md"), "w") as file:
        file.write(text)
    return text

"""Rollout buffers of variable length that hold whole episodes and their Monte Carlo returns."""

from collections.abc import Generator
from typing import Any

import numpy as np
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer

from sb3_reinforce.returns import discounted_returns


class EpisodeBufferMixin:
    """
    Turns an SB3 rollout buffer (``RolloutBuffer``, ``DictRolloutBuffer`` or a subclass such as
    sb3-contrib's maskable buffers) into one that REINFORCE can fill past ``buffer_size``:

    - ``add`` doubles the storage when it is full, so a rollout can run on until its episodes end;
    - ``valid`` marks, per step and env, the transitions the next update uses;
    - ``episode_steps`` holds each transition's step index in its episode (0 at its first step, counted across
      rollouts; filled by ``finish_rollout``), and ``groups`` what the algorithm records for the leave-one-out
      baseline (see ``REINFORCE``), ``ref_log_probs`` the reference policy's log-probabilities (with a KL penalty);
    - ``finish_rollout`` computes the Monte Carlo returns (``penalize_rewards`` recomputes them after a penalty) and
      marks each env's steps after its last completed episode as unused; ``carry_over`` keeps them for the start of
      the next rollout;
    - ``get`` yields the valid transitions only.

    Every array attribute whose first axis is the time axis is grown and carried, so subclasses that add
    arrays (action masks, ...) need no extra code.
    """

    # What the mixin uses of SB3's rollout buffers (set by their ``__init__`` and ``reset``)
    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    gamma: float
    generator_ready: bool
    observations: Any  # np.ndarray, or dict[str, np.ndarray] in the Dict buffers: each of SB3's buffers declares its own
    actions: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray
    advantages: np.ndarray
    episode_starts: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray
    # The mixin's own
    valid: np.ndarray
    episode_steps: np.ndarray
    groups: np.ndarray
    ref_log_probs: np.ndarray
    n_rows_carried_in: int
    _indices: np.ndarray  # set by get(): the flattened rows it yields, in order

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._carried: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)
        self._next_episode_step = np.zeros(self.n_envs, dtype=np.int64)  # per env, across rollouts: its next step index

    def reset(self) -> None:
        """Empty the buffer, forgetting any steps kept for the next rollout."""
        super().reset()  # type: ignore[misc]
        self.valid = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.episode_steps = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self.groups = np.full((self.buffer_size, self.n_envs), None, dtype=object)
        self.ref_log_probs = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self._carried = None
        self.n_rows_carried_in = 0

    def start_rollout(self) -> None:
        """Empty the buffer, then put back the steps that ``carry_over`` kept."""
        carried = self._carried
        self.reset()
        if carried is None:
            return
        n_rows = len(carried["valid"])
        while self.buffer_size < n_rows:
            self._grow()
        for name, rows in carried.items():
            target = getattr(self, name)
            if isinstance(rows, dict):
                for key, value in rows.items():
                    target[key][:n_rows] = value
            else:
                target[:n_rows] = rows
        self.pos = n_rows
        self.n_rows_carried_in = n_rows

    @property
    def n_carried(self) -> int:
        """Number of time steps (rows) kept for the next rollout."""
        return 0 if self._carried is None else len(self._carried["valid"])

    def add(self, *args: Any, **kwargs: Any) -> None:
        if self.pos == self.buffer_size:
            self._grow()
        self.valid[self.pos] = True
        super().add(*args, **kwargs)  # type: ignore[misc]
        self.full = False  # the storage grows on demand: never "full"

    def _time_arrays(self) -> dict[str, Any]:
        """Every array (or dict of arrays) indexed by time step first."""
        arrays: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[0] == self.buffer_size:
                arrays[name] = value
            elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
                if all(v.shape[0] == self.buffer_size for v in value.values()):
                    arrays[name] = value
        return arrays

    def _grow(self) -> None:
        """Double the storage along the time axis."""
        for name, value in self._time_arrays().items():
            if isinstance(value, dict):
                setattr(self, name, {key: _double(array) for key, array in value.items()})
            else:
                setattr(self, name, _double(value))
        self.buffer_size *= 2

    def finish_rollout(self, episode_end: np.ndarray, last_values: np.ndarray) -> None:
        """
        Compute the discounted Monte Carlo returns of the rollout and choose the steps the update uses.

        :param episode_end: Per env, the row after the last step the update uses (the end of the episode
            that completed the rollout, or the rollout's end when that episode was cut short)
        :param last_values: Per env, the value that follows the rollout's last step: ``V(s')`` where
            that step's episode is cut short and bootstrapped, 0 otherwise
        """
        n_rows = self.pos
        self._index_episode_steps()
        self._last_values = last_values
        self._compute_returns()  # advantages: REINFORCE._compute_baseline
        self._carried = None
        self.valid[:n_rows] &= np.arange(n_rows)[:, None] < episode_end[None, :]

    def penalize_rewards(self, penalty: np.ndarray) -> None:
        """
        Subtract ``penalty`` (rows, n_envs) from the rollout's rewards and recompute the returns (after ``finish_rollout``).
        Carried steps keep their penalized rewards into the next rollout.
        """
        self.rewards[: self.pos] -= penalty
        self._compute_returns()

    def _compute_returns(self) -> None:
        n_rows = self.pos
        ends = np.ones((n_rows, self.n_envs), dtype=bool)
        ends[:-1] = self.episode_starts[1:n_rows] > 0
        rewards = self.rewards[:n_rows].astype(np.float64)
        rewards[-1] += self.gamma * self._last_values
        self.returns[:n_rows] = discounted_returns(rewards, ends, self.gamma)

    def _index_episode_steps(self) -> None:
        """
        Fill ``episode_steps`` for the rows added in this rollout (the carried ones have theirs): the rows since their
        episode's start, counted on from the previous rollout where the episode began there (once per rollout).
        """
        first, rows = self.n_rows_carried_in, np.arange(self.n_rows_carried_in, self.pos)[:, None]
        if first > 0:
            self._next_episode_step = self.episode_steps[first - 1] + 1
        last_start = np.maximum.accumulate(np.where(self.episode_starts[first : self.pos] > 0, rows, -1), axis=0)
        steps = np.where(last_start >= 0, rows - last_start, self._next_episode_step[None, :] + rows - first)
        self.episode_steps[first : self.pos] = steps
        if len(steps):
            self._next_episode_step = steps[-1] + 1

    def carry_over(self, episode_end: np.ndarray) -> None:
        """
        Keep each env's steps from ``episode_end`` on (those ``finish_rollout`` left unused), with everything stored for
        them, for the start of the next rollout. Call it when the rollout's fields are complete, before ``get``.
        """
        unused = np.arange(self.pos)[:, None] >= episode_end[None, :]
        if unused.any():
            first = int(episode_end.min())
            self._carried = {name: _slice(value, first, self.pos) for name, value in self._time_arrays().items()}
            self._carried["valid"] = unused[first:]

    def get(self, batch_size: int | None = None) -> Generator[Any, None, None]:
        """
        Yield the transitions the update uses (``valid``), in order, by batches of ``batch_size``
        (all of them in one batch by default).
        """
        if not self.generator_ready:
            indices = np.flatnonzero(self.swap_and_flatten(self.valid[: self.pos]))  # type: ignore[attr-defined]
            for name, value in self._time_arrays().items():
                if isinstance(value, dict):
                    setattr(self, name, {key: self._flatten_rows(array) for key, array in value.items()})
                else:
                    setattr(self, name, self._flatten_rows(value))
            self._indices = indices
            self.generator_ready = True
        batch_size = batch_size or max(len(self._indices), 1)
        for start in range(0, len(self._indices), batch_size):
            yield self._get_samples(self._indices[start : start + batch_size])  # type: ignore[attr-defined]

    def _flatten_rows(self, array: np.ndarray) -> np.ndarray:
        return self.swap_and_flatten(array[: self.pos])  # type: ignore[attr-defined]


def _double(array: np.ndarray) -> np.ndarray:
    grown = np.full((2 * array.shape[0], *array.shape[1:]), None if array.dtype == object else 0, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


def _slice(value: Any, start: int, stop: int) -> Any:
    if isinstance(value, dict):
        return {key: array[start:stop].copy() for key, array in value.items()}
    return value[start:stop].copy()


class ReinforceRolloutBuffer(EpisodeBufferMixin, RolloutBuffer):
    """SB3's ``RolloutBuffer`` that completes episodes and stores their Monte Carlo returns."""


class DictReinforceRolloutBuffer(EpisodeBufferMixin, DictRolloutBuffer):
    """SB3's ``DictRolloutBuffer`` that completes episodes and stores their Monte Carlo returns."""


class MaskableReinforceRolloutBuffer(EpisodeBufferMixin, MaskableRolloutBuffer):
    """sb3-contrib's ``MaskableRolloutBuffer`` (it stores the action masks) that completes episodes."""


class MaskableDictReinforceRolloutBuffer(EpisodeBufferMixin, MaskableDictRolloutBuffer):
    """sb3-contrib's ``MaskableDictRolloutBuffer`` that completes episodes."""


# SB3's and sb3-contrib's own buffers map to the classes above; the others get a subclass made once, on first use
_EPISODE_BUFFER_CLASSES: dict[type[RolloutBuffer], type[EpisodeBufferMixin]] = {
    RolloutBuffer: ReinforceRolloutBuffer,
    DictRolloutBuffer: DictReinforceRolloutBuffer,
    MaskableRolloutBuffer: MaskableReinforceRolloutBuffer,
    MaskableDictRolloutBuffer: MaskableDictReinforceRolloutBuffer,
}


def episode_buffer_class(buffer_class: type[RolloutBuffer]) -> type[EpisodeBufferMixin]:
    """
    The class of the buffer REINFORCE fills, made from a subclass of SB3's ``RolloutBuffer`` (or ``DictRolloutBuffer``,
    or sb3-contrib's maskable buffers): ``buffer_class`` itself if it already subclasses ``EpisodeBufferMixin``, else
    ``Episode<name>(EpisodeBufferMixin, buffer_class)``, made once per class. In the latter the mixin comes first, so
    ``buffer_class``'s own ``reset``, ``add`` and ``_get_samples`` are still called (through ``super()``).

    :param buffer_class: A rollout buffer class
    :return: The same class, or its subclass with the mixin
    """
    if issubclass(buffer_class, EpisodeBufferMixin):
        return buffer_class
    if buffer_class not in _EPISODE_BUFFER_CLASSES:
        name = f"Episode{buffer_class.__name__}"
        doc = f"``{buffer_class.__name__}`` that completes episodes and stores their Monte Carlo returns."
        namespace = {"__doc__": doc, "__module__": __name__}
        _EPISODE_BUFFER_CLASSES[buffer_class] = type(name, (EpisodeBufferMixin, buffer_class), namespace)
    return _EPISODE_BUFFER_CLASSES[buffer_class]

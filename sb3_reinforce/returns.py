"""Monte Carlo returns: pure numpy functions, no torch or SB3 state."""

import numpy as np

# Scale factors gamma**j used inside one block stay within [1e-150, 1]: far from float64 under/overflow.
_MIN_SCALE_LOG10 = -150.0


def discounted_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    Discounted reward-to-go ``G_t = r_t + gamma * G_{t+1}``, restarted after every episode end.

    Vectorized and O(T): the recursion is solved with a reversed cumulative sum of ``gamma**j * r`` per
    block (blocks are short enough that ``gamma**j`` never underflows), so there is no Python loop over
    time steps or envs (only over blocks, of which there is one for gamma = 1 or gamma = 0.99 and T < 34k).

    :param rewards: Rewards of shape (T,) or (T, n_envs), time-major as in SB3's buffers.
        Any bootstrap value (``gamma * V(s')``) must already be added to the reward of the step it follows.
    :param episode_ends: Booleans of the same shape: True where the episode ends after step t
        (termination, truncation or the end of the data). The return after the last step of each
        env is taken as zero whether or not it is flagged.
    :param gamma: Discount factor in [0, 1]
    :return: The returns, float64, same shape as ``rewards``
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    episode_ends = np.asarray(episode_ends, dtype=bool)
    if rewards.shape != episode_ends.shape:
        raise ValueError(f"rewards {rewards.shape} and episode_ends {episode_ends.shape} must have the same shape")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if rewards.ndim == 1:
        return _returns_1d(rewards, episode_ends, gamma)
    # Lay the envs end to end (env-major) with an episode end after each env's last step.
    n_steps = rewards.shape[0]
    ends = episode_ends.T.copy()
    ends[:, -1:] = True  # a slice: no error when T = 0
    flat = _returns_1d(rewards.T.ravel(), ends.ravel(), gamma)
    return flat.reshape(rewards.shape[::-1]).T.reshape(n_steps, *rewards.shape[1:])


def _returns_1d(rewards: np.ndarray, ends: np.ndarray, gamma: float) -> np.ndarray:
    n = len(rewards)
    if gamma == 0.0 or n == 0:
        return rewards.copy()
    block = n if gamma == 1.0 else max(1, int(_MIN_SCALE_LOG10 / np.log10(gamma)))
    returns = np.empty(n)
    next_return = 0.0  # return of the step after the current block
    for start in range(((n - 1) // block) * block, -1, -block):
        stop = min(start + block, n)
        size = stop - start
        steps = np.arange(size)
        scale = gamma**steps
        # tail[j] = sum_{k >= j} gamma^k r_k within the block, tail[size] = 0
        tail = np.zeros(size + 1)
        tail[:size] = np.cumsum((rewards[start:stop] * scale)[::-1])[::-1]
        # First episode end at or after each step (size when the episode runs past the block)
        end_at = np.where(ends[start:stop], steps, size)
        first_end = np.minimum.accumulate(end_at[::-1])[::-1]
        returns[start:stop] = (tail[steps] - tail[np.minimum(first_end + 1, size)]) / scale
        runs_on = first_end == size
        returns[start:stop][runs_on] += gamma ** (size - steps[runs_on]) * next_return
        next_return = returns[start]  # only read by steps whose episode continues into this block
    return returns


def leave_one_out_baseline(returns: np.ndarray, episode_steps: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """
    The leave-one-out baseline of each transition: the mean return, from the same step of their episode, of the *other*
    episodes of its group that lasted that long (0 where there is none). For a reward given only at the end of
    fixed-length episodes (``gamma=1``) it is RLOO's: the mean score of the group's other samples.

    :param returns: Return of each transition, shape (N,)
    :param episode_steps: Step index of each transition in its episode (0 at the episode's first step), shape (N,)
    :param groups: Integer group of each transition's episode, shape (N,). An episode contributes at most one transition
        per (group, step), so the sum over the others is the sum over the (group, step) cell minus its own return.
    :return: The baseline, float64, shape (N,)
    """
    returns = np.asarray(returns, dtype=np.float64)
    cells = np.asarray(groups, dtype=np.int64) * (int(np.max(episode_steps, initial=0)) + 1) + episode_steps
    _, cell = np.unique(cells, return_inverse=True)
    sums = np.bincount(cell, weights=returns)[cell]
    counts = np.bincount(cell)[cell]
    others = np.maximum(counts - 1, 1)
    return np.where(counts > 1, (sums - returns) / others, 0.0)


def group_std(returns: np.ndarray, episode_steps: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """
    The standard deviation (``ddof=1``, as ``torch.std``) of the returns of each transition's (group, step) cell: the
    returns, from the same step of their episode, of every episode of its group that lasted that long, its own
    included; the cells of ``leave_one_out_baseline``. For a score given at the end of fixed-length episodes it is the
    std of the group's scores, which GRPO (Shao et al., 2024) divides out. A cell of one return has no spread: 1 there.

    :param returns: Return of each transition, shape (N,)
    :param episode_steps: Step index of each transition in its episode, shape (N,)
    :param groups: Integer group of each transition's episode, shape (N,)
    :return: The std, float64, shape (N,)
    """
    returns = np.asarray(returns, dtype=np.float64)
    cells = np.asarray(groups, dtype=np.int64) * (int(np.max(episode_steps, initial=0)) + 1) + episode_steps
    _, cell = np.unique(cells, return_inverse=True)
    counts = np.bincount(cell)
    means = np.bincount(cell, weights=returns) / counts
    squares = np.bincount(cell, weights=(returns - means[cell]) ** 2)
    std = np.sqrt(squares / np.maximum(counts - 1, 1))
    return np.where(counts[cell] > 1, std[cell], 1.0)

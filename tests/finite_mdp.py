"""
Small finite MDPs as a vectorized SB3 VecEnv (one-hot observations), their exact policy gradients, and the
gradient that REINFORCE's own ``train()`` produces on rollouts it collects itself.

Shared by tests/test_estimator.py and benchmarks/estimator_variance.py.
"""

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce import REINFORCE


@dataclass
class FiniteMDP:
    """
    :param transitions: (S, A, S + 1) next-state probabilities; the last column is termination
    :param rewards: (S, A) reward of taking a in s
    :param initial: (S,) initial state distribution
    :param time_limit: episodes are truncated after this many steps (None: they only terminate)
    """

    transitions: np.ndarray
    rewards: np.ndarray
    initial: np.ndarray
    time_limit: int | None = None

    @classmethod
    def random(
        cls, seed: int, n_states: int = 4, n_actions: int = 3, terminate: float = 0.25, time_limit: int | None = None
    ) -> "FiniteMDP":
        rng = np.random.default_rng(seed)
        p_terminate = rng.uniform(0.5 * terminate, 1.5 * terminate, size=(n_states, n_actions, 1))
        moves = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)) * (1 - p_terminate)
        rewards = rng.normal(size=(n_states, n_actions))
        return cls(np.concatenate([moves, p_terminate], axis=2), rewards, rng.dirichlet(np.ones(n_states)), time_limit)

    @classmethod
    def sequence(cls, seed: int, length: int = 3, width: int = 2, n_actions: int = 3) -> "FiniteMDP":
        """
        Fixed-length episodes with a reward only at their end, as when a sequence is scored once it is written: states
        are ``length`` layers of ``width``, each step moves to the next layer, and the last layer's step is rewarded
        and terminates. With gamma 1 every step's return is the episode's score.
        """
        rng = np.random.default_rng(seed)
        n_states = length * width
        transitions = np.zeros((n_states, n_actions, n_states + 1))
        rewards = np.zeros((n_states, n_actions))
        for layer in range(length):
            rows = slice(layer * width, (layer + 1) * width)
            if layer + 1 < length:
                transitions[rows, :, (layer + 1) * width : (layer + 2) * width] = rng.dirichlet(
                    np.ones(width), (width, n_actions)
                )
            else:
                transitions[rows, :, n_states] = 1.0
                rewards[rows] = rng.normal(size=(width, n_actions)) + 2.0  # positive scores, as text metrics
        initial = np.zeros(n_states)
        initial[:width] = rng.dirichlet(np.ones(width))
        return cls(transitions, rewards, initial)

    @property
    def n_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def n_actions(self) -> int:
        return self.rewards.shape[1]


class FiniteMDPVecEnv(VecEnv):
    """
    ``n_envs`` copies of a ``FiniteMDP``, simulated together in numpy, with SB3's VecEnv conventions.

    With ``group_size``, each block of ``group_size`` envs is a group: its episodes end with ``info["group"]`` = the
    block's index, and ``reset()`` starts the block's envs from one shared initial state (the automatic resets after an
    episode's end draw independent ones).
    """

    def __init__(self, mdp: FiniteMDP, n_envs: int, seed: int = 0, group_size: int | None = None):
        observation_space = spaces.Box(0.0, 1.0, shape=(mdp.n_states,), dtype=np.float32)
        super().__init__(n_envs, observation_space, spaces.Discrete(mdp.n_actions))
        self.mdp = mdp
        self.rng = np.random.default_rng(seed)
        self.states = np.zeros(n_envs, dtype=np.int64)
        self.elapsed = np.zeros(n_envs, dtype=np.int64)
        self.cumulative = np.cumsum(mdp.transitions, axis=2)
        self.group_size = group_size

    def _obs(self, states: np.ndarray) -> np.ndarray:
        return np.eye(self.mdp.n_states, dtype=np.float32)[states]

    def _initial_states(self, n: int) -> np.ndarray:
        return self.rng.choice(self.mdp.n_states, size=n, p=self.mdp.initial)

    def reset(self) -> np.ndarray:
        if self.group_size is None:
            self.states = self._initial_states(self.num_envs)
        else:
            self.states = np.repeat(self._initial_states(-(-self.num_envs // self.group_size)), self.group_size)[
                : self.num_envs
            ]
        self.elapsed[:] = 0
        return self._obs(self.states)

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions).reshape(-1)

    def step_wait(self) -> Any:
        rewards = self.mdp.rewards[self.states, self.actions].astype(np.float32)
        cumulative = self.cumulative[self.states, self.actions]
        next_states = np.minimum((self.rng.random((self.num_envs, 1)) > cumulative).sum(axis=1), self.mdp.n_states)
        terminated = next_states == self.mdp.n_states
        self.elapsed += 1
        limit = self.mdp.time_limit
        truncated = ~terminated & (self.elapsed >= limit) if limit is not None else np.zeros(self.num_envs, dtype=bool)
        dones = terminated | truncated
        terminal_obs = self._obs(np.minimum(next_states, self.mdp.n_states - 1))
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i] = {"terminal_observation": terminal_obs[i], "TimeLimit.truncated": bool(truncated[i])}
            if self.group_size is not None:
                infos[i]["group"] = i // self.group_size
        next_states[dones] = self._initial_states(int(dones.sum()))
        self.elapsed[dones] = 0
        self.states = next_states
        return self._obs(self.states), rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [None] * self.num_envs  # no spec: REINFORCE falls back to max_completion_steps

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise NotImplementedError

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


def policy_parameters(model: REINFORCE) -> list[th.nn.Parameter]:
    """The parameters of the policy's logits (the tabular softmax: weight (A, S) and bias (A,))."""
    return list(model.policy.action_net.parameters())


def expected_gradient(model: REINFORCE, mdp: FiniteMDP) -> tuple[np.ndarray, np.ndarray]:
    """
    Exact expectations, per episode, for the current policy of ``model``, flattened over ``policy_parameters``:

    - ``surrogate``: E[sum_t grad log pi(a_t|s_t) G_t], with G_t = sum_{k>=t} gamma^{k-t} r_k (plus gamma * V(s') where a
      time limit truncates the episode and the model bootstraps with its value baseline). This is what REINFORCE's
      loss estimates: the gradient of sum_t E_{s_t}[sum_a pi_theta(a|s_t) Q_t(s_t, a)] with the state distribution and
      Q held fixed. It omits the gamma^t factor of the true gradient, so for gamma < 1 it is not the gradient of J.
    - ``true``: the gradient of J(theta) = E[sum_t gamma^t r_t] (+ the bootstrap term), by autograd through the
      dynamic program. The two coincide when gamma = 1.

    With a KL penalty in the reward (``kl_coef`` beta > 0, ``kl_penalty="reward"``), r_t is r_t - beta * log(pi(a_t|s_t)
    / pi_ref(a_t|s_t)): in ``surrogate`` with pi held fixed (as the rollout's rewards are), in ``true`` differentiated
    through pi, so that J is the KL-regularized objective E[sum_t gamma^t r_t] - beta * E[sum_t gamma^t KL(pi || pi_ref)(s_t)].
    """
    gamma = model.gamma
    n_states = mdp.n_states
    one_hot = th.eye(n_states, device=model.device)
    distribution = model.policy.get_distribution(one_hot).distribution
    assert isinstance(distribution, th.distributions.Categorical)  # Discrete actions
    probs = distribution.logits.double().softmax(-1).cpu()  # (S, A), differentiable, normalized in float64
    with th.no_grad():
        bootstrap = model.policy.predict_values(one_hot).flatten().double().cpu()
    if model.baseline != "value":
        bootstrap = th.zeros(n_states, dtype=th.float64)
    moves = th.as_tensor(mdp.transitions[:, :, :n_states])  # (S, A, S)
    initial = th.as_tensor(mdp.initial)
    live_rewards = th.as_tensor(mdp.rewards) - _penalty(model, probs)  # the objective's, differentiable through pi
    rewards = live_rewards.detach()  # the rollout's

    def terms(policy: th.Tensor) -> tuple[list[th.Tensor], list[th.Tensor]]:
        """Per time step: state occupancy d_t (S,) and action values Q_t (S, A)."""
        flow = th.einsum("sa,sat->st", policy, moves)  # (S, S) next-state probabilities under the policy
        if mdp.time_limit is None:
            eye = th.eye(n_states, dtype=th.float64)
            visits = th.linalg.solve(eye - flow.T, initial)  # expected visits over the whole episode
            values = th.linalg.solve(eye - gamma * flow, (policy * rewards).sum(1))
            return [visits], [rewards + gamma * moves @ values]
        q_values: list[th.Tensor]
        occupancy, q_values, d = [], [], initial
        for _ in range(mdp.time_limit):
            occupancy.append(d)
            d = d @ flow
        values = bootstrap
        for _ in range(mdp.time_limit):
            q = rewards + gamma * moves @ values
            q_values.insert(0, q)
            values = (policy * q).sum(1)
        return occupancy, q_values

    parameters = policy_parameters(model)
    occupancy, q_values = terms(probs.detach())
    surrogate = cast(th.Tensor, sum((d[:, None] * probs * q).sum() for d, q in zip(occupancy, q_values, strict=True)))
    surrogate_grad = th.autograd.grad(surrogate, parameters, retain_graph=True)
    # True objective: J = sum_t gamma^t E[r_t] (+ gamma^H E[V(s_H)] at a time limit), differentiated through everything
    objective = _objective(probs, moves, live_rewards, initial, bootstrap, gamma, mdp.time_limit)
    true_grad = th.autograd.grad(objective, parameters)
    flat = lambda grads: th.cat([g.flatten() for g in grads]).double().cpu().numpy()  # noqa: E731
    return flat(surrogate_grad), flat(true_grad)


def _penalty(model: REINFORCE, probs: th.Tensor) -> th.Tensor | float:
    """beta * log(pi(a|s) / pi_ref(a|s)), (S, A), where the reward carries a KL penalty; else 0."""
    if model.kl_coef == 0 or model.kl_penalty != "reward":
        return 0.0
    return model.kl_coef * (probs.log() - reference_probs(model).log())


def reference_probs(model: REINFORCE) -> th.Tensor:
    """pi_ref(a|s) of every state, (S, A)."""
    assert model.ref_policy is not None
    n_states = model.observation_space.shape[0]  # type: ignore[index]
    distribution = cast(Any, model.ref_policy).get_distribution(th.eye(n_states, device=model.device)).distribution
    return distribution.probs.double().cpu().detach()


def _log_probs(model: REINFORCE) -> th.Tensor:
    """log pi(a|s) of every state, (S, A), float64, differentiable."""
    n_states = model.observation_space.shape[0]  # type: ignore[index]
    distribution = model.policy.get_distribution(th.eye(n_states, device=model.device)).distribution
    assert isinstance(distribution, th.distributions.Categorical)
    return distribution.logits.double().cpu().log_softmax(-1)


def state_visits(model: REINFORCE, mdp: FiniteMDP) -> th.Tensor:
    """Expected visits of each state over an episode, (S,), under the current policy (not differentiable)."""
    n_states = mdp.n_states
    with th.no_grad():
        probs = _log_probs(model).exp()
    flow = th.einsum("sa,sat->st", probs, th.as_tensor(mdp.transitions[:, :, :n_states]))
    initial = th.as_tensor(mdp.initial)
    if mdp.time_limit is None:
        return th.linalg.solve(th.eye(n_states, dtype=th.float64) - flow.T, initial)
    visits, d = th.zeros(n_states, dtype=th.float64), initial
    for _ in range(mdp.time_limit):
        visits, d = visits + d, d @ flow
    return visits


def reverse_kl_gradient(model: REINFORCE, mdp: FiniteMDP) -> np.ndarray:
    """
    The gradient of sum_s visits(s) KL(pi_ref || pi)(s) (visits held fixed), flattened over ``policy_parameters``: what
    the expectation of a k3 loss term (``kl_penalty="loss"``) descends, per episode.
    """
    log_probs = _log_probs(model)
    reference = reference_probs(model)
    divergence = (state_visits(model, mdp)[:, None] * reference * (reference.log() - log_probs)).sum()
    grads = th.autograd.grad(divergence, policy_parameters(model))
    return th.cat([g.flatten() for g in grads]).double().cpu().numpy()


def _objective(
    policy: th.Tensor,
    moves: th.Tensor,
    rewards: th.Tensor,
    initial: th.Tensor,
    bootstrap: th.Tensor,
    gamma: float,
    time_limit: int | None,
) -> th.Tensor:
    flow = th.einsum("sa,sat->st", policy, moves)
    reward = (policy * rewards).sum(1)
    n_states = len(initial)
    if time_limit is None:
        discounted_visits = th.linalg.solve(th.eye(n_states, dtype=th.float64) - gamma * flow.T, initial)
        return discounted_visits @ reward
    total, d = th.zeros((), dtype=th.float64), initial
    for t in range(time_limit):
        total = total + gamma**t * d @ reward
        d = d @ flow
    return total + gamma**time_limit * d @ bootstrap


def reinforce_gradients(model: REINFORCE, env: FiniteMDPVecEnv, n_rollouts: int) -> np.ndarray:
    """
    The gradient that ``model.train()`` computes, on ``n_rollouts`` rollouts that ``model.collect_rollouts`` collects
    from freshly reset envs, each rescaled to one per episode: ascent direction = -grad * batch size / episodes.
    The optimizer step is replaced by the capture, so the policy stays the same throughout.

    :return: (n_rollouts, n_parameters)
    """
    parameters = policy_parameters(model)
    captured: list[np.ndarray] = []
    model.policy.optimizer.step = lambda *args, **kwargs: captured.append(  # type: ignore[method-assign, assignment]
        th.cat([p.grad.flatten() for p in parameters]).double().cpu().numpy()  # type: ignore[union-attr]  # set by backward()
    )
    _, callback = model._setup_learn(total_timesteps=1)
    estimates = []
    for _ in range(n_rollouts):
        model._last_obs = env.reset()
        model._last_episode_starts = np.ones(env.num_envs, dtype=bool)
        assert model.collect_rollouts(env, callback, model.rollout_buffer, model.n_steps)
        buffer = model.rollout_buffer
        valid = buffer.valid[: buffer.pos]
        episodes = (buffer.episode_starts[: buffer.pos] * valid).sum()  # every used episode starts in the rollout
        model.train()
        estimates.append(-captured.pop() * valid.sum() / episodes)
    return np.array(estimates)


def compare(estimates: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """The largest |z-score| of the mean estimate against ``target`` over coordinates, and their cosine similarity."""
    mean = estimates.mean(axis=0)
    standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    z_scores = (mean - target) / np.maximum(standard_error, 1e-12)
    cosine = mean @ target / (np.linalg.norm(mean) * np.linalg.norm(target))
    return float(np.abs(z_scores).max()), float(cosine)


def group_mean_baseline(returns: np.ndarray, episode_steps: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """
    The ``"mean"`` baseline taken over each group instead of the batch: the mean return of all the group's transitions,
    the episode's own included. A stand-in for ``leave_one_out_baseline`` (same arguments) in the power checks.
    """
    _, group = np.unique(groups, return_inverse=True)
    return (np.bincount(group, weights=returns) / np.bincount(group))[group]


def fit_value_before_weights(model: REINFORCE) -> None:
    """
    The wrong order, for the power checks: fit the value on the rollout's own returns first, then subtract it (so a
    weight's baseline has seen that step's own return). Patches ``model._compute_baseline``.
    """
    compute_baseline = model._compute_baseline

    def fit_then_compute(buffer: Any) -> None:
        valid = buffer.valid[: buffer.pos]
        observations = th.as_tensor(buffer.observations[: buffer.pos][valid], device=model.device)
        returns = th.as_tensor(buffer.returns[: buffer.pos][valid], device=model.device)
        model._fit_value(observations, returns)
        compute_baseline(buffer)

    model._compute_baseline = fit_then_compute  # type: ignore[method-assign]


def average_per_episode(model: REINFORCE) -> None:
    """
    GRPO's aggregation: each episode's loss is the mean over its own steps, so a step of an episode of length L weighs
    1 / L (times the mean length, a constant). Patches ``model._compute_baseline`` (n_steps=1: one episode per env).
    """
    compute_baseline = model._compute_baseline

    def per_episode(buffer: Any) -> None:
        compute_baseline(buffer)
        lengths = buffer.valid[: buffer.pos].sum(axis=0)
        buffer.advantages[: buffer.pos] *= lengths.mean() / np.maximum(lengths, 1)

    model._compute_baseline = per_episode  # type: ignore[method-assign]

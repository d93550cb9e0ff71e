import contextvars
import io
import pathlib
import warnings
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule, explained_variance, obs_as_tensor, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_reinforce.buffers import DictReinforceRolloutBuffer, EpisodeBufferMixin, ReinforceRolloutBuffer, episode_buffer_class
from sb3_reinforce.checks import check_finite, check_hyperparameters, check_policy_class
from sb3_reinforce.groups import episode_group_codes
from sb3_reinforce.reference import ReferenceSource, frozen_copy, reference_log_prob, reference_policy
from sb3_reinforce.returns import group_std, leave_one_out_baseline

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")

# Length of the episode-completion phase when neither ``max_completion_steps`` nor the env's time limit sets it
DEFAULT_MAX_COMPLETION_STEPS = 1000
# Halvings of the policy's step that target_kl may ask for before the step is undone
MAX_BACKTRACKS = 10
# Set while ``REINFORCE.load`` reads a file: a file without a value optimizer (older files, A2C/PPO/TRPO files) is then
# completed with a fresh one, while a direct ``set_parameters(..., exact_match=True)`` still asks for every object
_LOADING_FILE = contextvars.ContextVar("_LOADING_FILE", default=False)


class REINFORCE(OnPolicyAlgorithm):
    """
    REINFORCE: Monte Carlo policy gradient (Williams, 1992).

    The loss is ``-mean_t[w_t * log pi(a_t | s_t)]`` where ``w_t = G_t - b(s_t)`` and ``G_t`` is the
    discounted return from step t to the end of its episode (the reward-to-go). By default every rollout
    runs on after ``n_steps`` until each env's episode in progress has ended, so no return is cut short by
    the rollout boundary.

    Paper: https://doi.org/10.1007/BF00992696 (Williams, 1992); Sutton & Barto (2018), chapter 13.

    ``REINFORCE.load`` also takes files saved by A2C, PPO or TRPO (same ``ActorCriticPolicy``): the policy's weights and
    optimizer and the hyperparameters the algorithms share (``gamma``, ``learning_rate``, ``n_steps``, ...) come from
    the file, those only REINFORCE has (``baseline``, ``rollout_mode``, ...) take their defaults. A file of another
    policy class (DQN, SAC, RecurrentPPO, MaskablePPO, ...) raises a ``ValueError`` naming its algorithm.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate (Adam), it can be a function
        of the current progress remaining (from 1 to 0)
    :param n_steps: The minimum number of steps to run for each environment per update. With
        ``rollout_mode="carry"`` or ``"discard"`` the rollout then goes on until every env's episode in
        progress has ended; with ``"bootstrap"`` it stops at exactly ``n_steps``. So ``learn()`` can run past its
        ``total_timesteps`` by up to a rollout's length (see ``learn``).
    :param gamma: Discount factor, in [0, 1]
    :param baseline: What is subtracted from the return to form the weight ``w_t`` of ``log pi(a_t | s_t)``:
        ``"none"`` (plain REINFORCE), ``"mean"`` (the mean return of the batch), ``"value"`` (a state-value
        function learned on the Monte Carlo returns by the policy's value head, with ``vf_coef``) or ``"loo"``
        (leave-one-out: the mean return, from the same step of their episode, of the other episodes of the rollout
        that lasted that long; with groups, of the other episodes of its group. An episode's group is the
        ``info["group"]`` (any hashable) of its last step, as with ``info["is_success"]``; episodes without one form
        one group. With several samples per prompt or start state in one group, this is RLOO; see
        ``sb3_reinforce.make_grouped_vec_env``). Without ``"value"`` no value loss is computed and the value head is
        not trained.
    :param normalize_advantage: How the weights ``w_t`` are scaled. ``True`` or ``"batch"``: standardized over the
        batch (zero mean, unit variance), as in the classic "standardized reward-to-go" recipe and REINFORCE++.
        ``"group"``: each divided by the standard deviation of the returns of its group (the (group, step) cells of
        ``"loo"``: for a score at the end of fixed-length episodes, the std of the group's scores), as GRPO; with
        ``baseline="loo"`` this is GRPO's advantage times ``k / (k - 1)`` for groups of k. Biased (docs/estimator.md).
        ``False`` or ``"none"``: unscaled (RLOO, Dr. GRPO).
    :param rollout_mode: How the rollout ends.
        ``"discard"``: after ``n_steps``, run until every env's episode in progress ends; the steps that envs which
        finished first take meanwhile are not used for training.
        ``"carry"``: the same, but those extra steps are kept as the start of the next rollout (so their actions
        come from the policy one update older than the one they train).
        ``"bootstrap"``: stop at exactly ``n_steps`` and bootstrap the returns of episodes cut by the rollout
        with the learned value, as A2C does (requires ``baseline="value"``).
    :param max_completion_steps: The most steps per env that a rollout runs past ``n_steps`` to complete
        its episodes. ``None``: the env's ``max_episode_steps`` (so episodes under a time limit always
        complete), or 1000 if the env has none. Episodes still running then are cut short as if truncated
        (bootstrapped with the value baseline if there is one), with a warning.
    :param ent_coef: Entropy coefficient for the loss calculation
    :param vf_coef: Value function coefficient for the loss calculation (only with ``baseline="value"``)
    :param max_grad_norm: The maximum norm of the gradient of the policy's parameters (everything but the value-only
        layers), ``None`` (default) for no clipping. The value-only layers are not counted, so the value loss (on the
        scale of the returns) cannot shrink the policy's step.
    :param vf_learning_rate: The learning rate (Adam, its own optimizer) of the value fit, a number or a function of
        the current progress remaining (from 1 to 0)
    :param n_value_epochs: With ``baseline="value"``: after the policy step, the number of passes (epochs) of
        minibatch regression of V(s) on the rollout's Monte Carlo returns. They change only the value-only layers
        (``value_net``, the critic's MLP and a separate critic features extractor): the policy's output is unchanged.
        The rollout's weights ``w_t`` use the baseline as it was before this fit. 0: the value is trained only by
        ``vf_coef`` times the value loss in the policy step.
    :param value_batch_size: Minibatch size of the value fit; ``None``: the whole rollout in one batch (each pass is
        one gradient step, which keeps the fit's cost at a few backward passes per rollout)
    :param kl_coef: Coefficient ``beta`` of a KL penalty to a frozen reference policy ``pi_ref`` (0: off, and then
        nothing is computed). The reference is the policy as the first ``learn()`` starts (the pretrained policy when
        fine-tuning), unless ``set_reference`` chose another; it is saved and loaded with the model.
    :param kl_penalty: Where the penalty goes, with ``kl_coef > 0``. ``"reward"``: ``beta * (log pi(a_t|s_t) -
        log pi_ref(a_t|s_t))`` (the k1 estimate, from the behaviour policy) is subtracted from each step's reward, so it
        enters the Monte Carlo returns, as TRL's RLOO and REINFORCE++: the update is then an unbiased estimate of the
        gradient of ``J(pi) - beta * KL(pi || pi_ref)`` (summed over the episode's steps). ``"loss"``: ``beta`` times the
        mean k3 estimate ``r - 1 - log r``, ``r = pi_ref / pi``, is added to the loss, as GRPO; its gradient is that
        of KL(pi_ref || pi) on the visited states, not of the regularized objective.
    :param value_warmup_steps: With ``baseline="value"``: the first rollouts of training, until this many env steps
        (counted in ``num_timesteps``), fit the value baseline only (``n_value_epochs`` passes each) and leave the
        policy as it is: a pretrained policy's returns are then baselined by a value fitted to them from its first
        step. 0: no warm-up.
    :param target_kl: Step-size safeguard. After the policy step, the KL divergence between the old and new policy is
        estimated on the rollout (``mean(ratio - 1 - log ratio)``); while it is above ``target_kl`` the step is halved
        (same direction), at most 10 times, and undone if still too large. ``None``: no safeguard.
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param rollout_buffer_class: Rollout buffer class to use: a subclass of SB3's ``RolloutBuffer`` or
        ``DictRolloutBuffer`` (to store extra data, as with A2C and PPO). REINFORCE fills a subclass of it with
        ``EpisodeBufferMixin`` (the class itself if it already has the mixin), which grows the storage and computes the
        Monte Carlo returns: the class's own ``reset``, ``add`` and ``_get_samples`` are called, its ``get`` and
        ``compute_returns_and_advantage`` are replaced. ``save()`` stores the class given. If ``None``,
        ``ReinforceRolloutBuffer`` (``DictReinforceRolloutBuffer`` for ``Dict`` observations).
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation.
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ActorCriticPolicy,
        "CnnPolicy": ActorCriticCnnPolicy,
        "MultiInputPolicy": MultiInputActorCriticPolicy,
    }
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (
        spaces.Box,
        spaces.Discrete,
        spaces.MultiDiscrete,
        spaces.MultiBinary,
    )
    policy_base: ClassVar[type[BasePolicy]] = ActorCriticPolicy  # what every policy class must subclass
    rollout_buffer: ReinforceRolloutBuffer | DictReinforceRolloutBuffer
    # The batched pass of _evaluate_rollout (values, log-probabilities, entropies), the row of each used step in it and
    # the update count it was made at: train() reuses it (see _forward)
    _rollout_forward: tuple[tuple[th.Tensor | None, th.Tensor, Any], np.ndarray, int] | None

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 128,
        gamma: float = 0.99,
        baseline: str = "value",
        normalize_advantage: bool = True,
        rollout_mode: str = "discard",
        max_completion_steps: int | None = None,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = None,
        vf_learning_rate: float | Schedule = 1e-3,
        n_value_epochs: int = 3,
        value_batch_size: int | None = None,
        target_kl: float | None = None,
        kl_coef: float = 0.0,
        kl_penalty: str = "reward",
        value_warmup_steps: int = 0,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        check_hyperparameters(
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            baseline=baseline,
            rollout_mode=rollout_mode,
            max_completion_steps=max_completion_steps,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            vf_learning_rate=vf_learning_rate,
            n_value_epochs=n_value_epochs,
            value_batch_size=value_batch_size,
            target_kl=target_kl,
            rollout_buffer_class=rollout_buffer_class,
            normalize_advantage=normalize_advantage,
            kl_coef=kl_coef,
            kl_penalty=kl_penalty,
            value_warmup_steps=value_warmup_steps,
        )
        check_policy_class(policy, type(self))  # also when load() reads a file saved by another algorithm
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=1.0,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,  # type: ignore[arg-type]
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
        )
        self.baseline = baseline
        self.normalize_advantage = normalize_advantage
        self.rollout_mode = rollout_mode
        self.max_completion_steps = max_completion_steps
        self.vf_learning_rate = vf_learning_rate
        self.n_value_epochs = n_value_epochs
        self.value_batch_size = value_batch_size
        self.target_kl = target_kl
        self.kl_coef = kl_coef
        self.kl_penalty = kl_penalty
        self.value_warmup_steps = value_warmup_steps
        self._value_warmup_done = 0  # env steps of value-only rollouts so far
        self.ref_policy: BasePolicy | None = None  # set when a learn() with kl_coef > 0 starts, or by set_reference
        action_space = getattr(self, "action_space", None)  # unset when there is no env (as in load())
        if action_space is not None and not isinstance(action_space, self.supported_action_spaces):
            names = ", ".join(space.__name__ for space in self.supported_action_spaces)
            raise ValueError(f"action space {action_space} is not supported by {type(self).__name__}: use one of {names}")
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = DictReinforceRolloutBuffer if dict_obs else ReinforceRolloutBuffer
        buffer_class = self.rollout_buffer_class
        # SB3 builds the buffer from it (a subclass of buffer_class with the mixin: mypy has no intersection types)
        self.rollout_buffer_class = cast(type[RolloutBuffer], episode_buffer_class(buffer_class))
        super()._setup_model()
        self.rollout_buffer_class = buffer_class  # what save() stores: the class given, not one made on the fly
        self._setup_value_fit()

    def _setup_value_fit(self) -> None:
        """Split the parameters into the policy's and the value-only ones; give the value fit its own optimizer."""
        value_modules = [self.policy.value_net, getattr(self.policy.mlp_extractor, "value_net", None)]
        if not self.policy.share_features_extractor:
            value_modules.append(self.policy.vf_features_extractor)
        value_ids = {id(p) for module in value_modules if module is not None for p in module.parameters()}
        self._value_parameters = [p for p in self.policy.parameters() if id(p) in value_ids]
        self._policy_parameters = [p for p in self.policy.parameters() if id(p) not in value_ids]
        self.vf_lr_schedule = FloatSchedule(self.vf_learning_rate)
        self.value_optimizer = th.optim.Adam(self._value_parameters, lr=self.vf_lr_schedule(1.0))

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "value_optimizer",
            "_value_parameters",
            "_policy_parameters",
            "_rollout_forward",
            "ref_policy",
        ]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        reference = ["ref_policy"] if self.ref_policy is not None else []
        return [*state_dicts, "value_optimizer", *reference], variables

    def set_parameters(
        self,
        load_path_or_dict: str | dict[str, Any],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        if not isinstance(load_path_or_dict, dict):
            _, load_path_or_dict, _ = load_from_zip_file(load_path_or_dict, device=device, load_data=False)
        if "ref_policy" in load_path_or_dict and self.ref_policy is None:  # a reference to load into
            self.ref_policy = frozen_copy(self.policy)
        if _LOADING_FILE.get():
            # Files written before the value fit existed (or by A2C/PPO/TRPO) have no value optimizer: it starts afresh
            if "value_optimizer" not in load_path_or_dict:
                load_path_or_dict = {**load_path_or_dict, "value_optimizer": self.value_optimizer.state_dict()}
        super().set_parameters(load_path_or_dict, exact_match, device)

    @classmethod
    def load(
        cls: type[SelfREINFORCE],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfREINFORCE:
        """
        Load the model from a zip file, as SB3's ``load``. A file without a value optimizer (saved by an older version,
        or by A2C, PPO or TRPO) loads with a fresh one; every other object of the file must match.
        """
        token = _LOADING_FILE.set(True)
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        finally:
            _LOADING_FILE.reset(token)

    def set_reference(self, reference: ReferenceSource = None) -> None:
        """
        Set the reference policy ``pi_ref`` of the KL penalty (``kl_coef``) to a frozen copy of ``reference``: ``None``
        (default) the model's policy as it is now; a policy or a model with the same spaces; or the path of a saved
        model (REINFORCE, A2C, PPO, ...) whose policy has this model's architecture. Without a call, the first
        ``learn()`` with ``kl_coef > 0`` takes the policy it starts from.

        :param reference: Where the reference comes from
        """
        self.ref_policy = reference_policy(reference, self.policy, self.device)

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if reset_num_timesteps or self._last_obs is None:
            self.rollout_buffer.reset()  # the envs are about to be reset: the kept steps would not continue
        if self.kl_coef > 0 and self.ref_policy is None:
            self.set_reference()  # the policy training starts from
        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)

    def _resolve_completion_limit(self, env: VecEnv) -> int:
        if self.max_completion_steps is not None:
            return self.max_completion_steps
        limits = [getattr(spec, "max_episode_steps", 0) for spec in env.get_attr("spec")]  # None or 0: no time limit
        if limits and all(limits):
            return int(max(limits))
        return DEFAULT_MAX_COMPLETION_STEPS

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """
        Collect at least ``n_rollout_steps`` per env, then (unless ``rollout_mode="bootstrap"``) go on until
        each env's episode in progress has ended, and compute the Monte Carlo returns.

        :param env: The training environment
        :param callback: Callback that will be called at each step
            (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts
        :param n_rollout_steps: Minimum number of experiences to collect per environment
        :return: True if function returned with at least `n_rollout_steps`
            collected, False if callback terminated rollout prematurely.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        assert self._last_episode_starts is not None  # set with _last_obs (by _setup_learn)
        assert isinstance(rollout_buffer, EpisodeBufferMixin)
        self.policy.set_training_mode(False)
        rollout_buffer.start_rollout()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()

        complete = self.rollout_mode != "bootstrap"
        completion_limit = self._resolve_completion_limit(env) if complete else 0
        max_steps = n_rollout_steps + completion_limit
        episode_end = np.full(env.num_envs, -1)  # per env: buffer row after its last completed episode
        n_steps = 0
        while n_steps < max_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            if not self._collect_step(env, callback, rollout_buffer):
                return False
            n_steps += 1
            if complete and n_steps >= n_rollout_steps:
                episode_end[self._last_episode_starts & (episode_end < 0)] = rollout_buffer.pos
                if (episode_end >= 0).all():
                    break

        cut = (episode_end < 0) if complete else ~self._last_episode_starts
        if complete and cut.any():
            warnings.warn(
                f"{cut.sum()} episode(s) still running after max_completion_steps={completion_limit} steps past "
                "n_steps: their returns are cut there as if truncated. Raise max_completion_steps or add a time limit.",
                stacklevel=2,
            )
        episode_end[episode_end < 0] = rollout_buffer.pos
        last_values = np.zeros(env.num_envs, dtype=np.float32)  # a cut return ends there without a value baseline
        if self.baseline == "value" and cut.any():
            last_values[cut] = self._predict_values(_select(self._last_obs, cut))
        rollout_buffer.finish_rollout(episode_end, last_values)
        check_finite("reward", rollout_buffer.rewards[: rollout_buffer.pos])
        check_finite("return", rollout_buffer.returns[: rollout_buffer.pos])
        self._compute_baseline(rollout_buffer)
        if self.rollout_mode == "carry":
            rollout_buffer.carry_over(episode_end)
        self.logger.record("rollout/length", n_steps)
        self._rollout_timesteps = n_steps * env.num_envs
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _collect_step(self, env: VecEnv, callback: BaseCallback, rollout_buffer: EpisodeBufferMixin) -> bool:
        """Take one step in every env and store it. Return False if a callback asked to stop training."""
        values = log_probs = th.zeros(env.num_envs)  # with the batched path: filled when the rollout ends, see below
        with th.no_grad():
            obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
            extra = self._step_inputs(env)
            try:
                if self._acts_through_forward():  # as A2C: actions, values and log-probabilities of policy(obs)
                    actions, values, log_probs = self.policy(obs_tensor, **extra)
                else:  # only the actor; values and log-probabilities come in one batch at the end (_compute_baseline)
                    actions = self.policy.get_distribution(obs_tensor, **extra).get_actions()
            # torch's check of the distribution's parameters (ValueError), or the sampler's when that check is off (as after
            # th.compile or Distribution.set_default_validate_args(False)): name the cause if it is the observation
            except (ValueError, RuntimeError) as error:
                observations = self._last_obs.items() if isinstance(self._last_obs, dict) else [(None, self._last_obs)]
                for key, array in observations:
                    name = "observation" if key is None else f"observation {key!r}"
                    check_finite(name, np.asarray(array), step=self.num_timesteps)
                raise error
        actions = actions.reshape((-1, *self.action_space.shape)).cpu().numpy()  # type: ignore[misc]
        clipped_actions = actions
        if isinstance(self.action_space, spaces.Box):
            if self.policy.squash_output:
                clipped_actions = self.policy.unscale_action(clipped_actions)
            else:
                clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

        new_obs, rewards, dones, infos = env.step(clipped_actions)
        self.num_timesteps += env.num_envs
        callback.update_locals(locals())
        if not callback.on_step():
            return False
        self._update_info_buffer(infos, dones)

        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.reshape(-1, 1)
        if self.baseline == "value":  # bootstrap episodes cut by a time limit: r + gamma * V(s')
            truncated = [i for i, info in enumerate(infos) if dones[i] and info.get("TimeLimit.truncated")]
            if truncated:
                rewards = rewards.astype(np.float32)
                terminal_obs = _stack([infos[i]["terminal_observation"] for i in truncated])
                rewards[truncated] += self.gamma * self._predict_values(terminal_obs)
        rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, values, log_probs, **extra)
        if self._uses_groups():  # an episode's group is read from its last step's info (see episode_group_codes)
            for i in np.flatnonzero(dones):
                rollout_buffer.groups[rollout_buffer.pos - 1, i] = infos[i].get("group")
        self._last_obs = new_obs  # type: ignore[assignment]
        self._last_episode_starts = dones
        return True

    def _uses_groups(self) -> bool:
        return self.baseline == "loo" or self.normalize_advantage == "group"

    def _acts_through_forward(self) -> bool:
        """
        Whether rollouts act through ``policy(obs)``, as A2C and PPO do: for a policy class that overrides ``forward()``
        (or a compiled one, ``th.compile(policy)``), which the batched path of SB3's stock policies would bypass.
        """
        return type(self.policy).forward is not self.policy_base.forward

    def _step_inputs(self, env: VecEnv) -> dict[str, Any]:
        """Extra inputs of the policy at a rollout step, also stored in the buffer (none here; action masks in
        ``MaskableREINFORCE``)."""
        return {}

    def _distribution_kwargs(self, action_masks: Any) -> dict[str, Any]:
        """Extra arguments of the policy's ``evaluate_actions`` / ``get_distribution`` after the rollout (action masks)."""
        return {}

    def _predict_values(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """The value baseline ``V(s)`` of a batch of observations."""
        with th.no_grad():
            return self.policy.predict_values(self.policy.obs_to_tensor(obs)[0]).flatten().cpu().numpy()

    def _compute_baseline(self, buffer: EpisodeBufferMixin) -> None:
        """
        Fill the buffer's ``values`` (the baseline b(s_t) that each weight subtracts: 0, the batch mean, the other
        episodes' mean or V(s) as it is before this rollout's update), ``advantages = returns - values`` (divided by
        their group's std with ``normalize_advantage="group"``) and ``log_probs`` (the behaviour policy's; kept for
        steps carried from the previous rollout), as SB3's buffer means them; with a KL penalty, first the reference's
        log-probabilities and (``kl_penalty="reward"``) the penalized rewards and returns. Steps that no update will use
        (discarded after their env's last episode) get 0.
        """
        n_rows = buffer.pos
        valid = buffer.valid[:n_rows]
        used = valid if self.rollout_mode != "carry" else np.ones_like(valid)  # carried steps need their log-probs
        if self._acts_through_forward():  # policy(obs) gave them step by step
            self._rollout_forward = None
            values, log_prob = buffer.values[:n_rows][used].copy(), buffer.log_probs[:n_rows][used].copy()
        else:
            values, log_prob = self._evaluate_rollout(buffer, used)
        log_probs = np.zeros(valid.shape, dtype=np.float32)
        log_probs[used] = log_prob
        buffer.log_probs[buffer.n_rows_carried_in : n_rows] = log_probs[buffer.n_rows_carried_in :]
        if self.kl_coef > 0:
            self._score_reference(buffer, used)
        returns = buffer.returns[:n_rows]
        groups = episode_group_codes(buffer.groups[:n_rows], buffer.episode_starts[:n_rows]) if self._uses_groups() else None
        if self.baseline == "value":
            buffer.values[:n_rows] = 0.0
            buffer.values[:n_rows][used] = values
        elif self.baseline == "loo":
            assert groups is not None
            buffer.values[:n_rows] = 0.0
            buffer.values[:n_rows][valid] = leave_one_out_baseline(
                returns[valid], buffer.episode_steps[:n_rows][valid], groups[valid]
            )
        else:
            buffer.values[:n_rows] = returns[valid].mean() if self.baseline == "mean" and valid.any() else 0.0
        buffer.advantages[:n_rows] = returns - buffer.values[:n_rows]
        if self.normalize_advantage == "group":
            assert groups is not None
            std = group_std(returns[valid], buffer.episode_steps[:n_rows][valid], groups[valid])
            buffer.advantages[:n_rows][valid] /= std + 1e-8

    def _score_reference(self, buffer: EpisodeBufferMixin, used: np.ndarray) -> None:
        """
        Store ``log pi_ref(a_t|s_t)`` of the rollout's new steps and, with ``kl_penalty="reward"``, subtract
        ``kl_coef * (log pi(a_t|s_t) - log pi_ref(a_t|s_t))`` from their rewards (carried steps have theirs already).
        """
        assert self.ref_policy is not None  # set by _setup_learn
        n_rows, first = buffer.pos, buffer.n_rows_carried_in
        new = used.copy()
        new[:first] = False
        observations, actions, masks = self._rollout_inputs(buffer, new)
        ref_log_prob = reference_log_prob(self.ref_policy, observations, actions, **self._distribution_kwargs(masks))
        buffer.ref_log_probs[:n_rows][new] = ref_log_prob.cpu().numpy()
        if self.kl_penalty == "reward":
            buffer.penalize_rewards(
                np.where(new, self.kl_coef * (buffer.log_probs[:n_rows] - buffer.ref_log_probs[:n_rows]), 0.0)
            )

    def _rollout_inputs(self, buffer: EpisodeBufferMixin, rows: np.ndarray) -> tuple[Any, th.Tensor, Any]:
        """Observations, actions (as the policy's distributions take them) and action masks of the rollout's ``rows``."""
        n_rows = buffer.pos
        pick = lambda array: array[:n_rows][rows]  # noqa: E731
        observations = buffer.observations
        obs = {key: pick(value) for key, value in observations.items()} if isinstance(observations, dict) else None
        obs = pick(observations) if obs is None else obs
        actions = th.as_tensor(pick(buffer.actions).astype(np.float32, copy=False), device=self.device)
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.long().flatten()
        masks = getattr(buffer, "action_masks", None)
        return obs_as_tensor(obs, self.device), actions, masks if masks is None else pick(masks)

    def _evaluate_rollout(self, buffer: EpisodeBufferMixin, used: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """
        Values (``None`` without the value baseline) and log-probabilities of the rollout's ``used`` steps (time-major), in
        one batched pass with the gradient, which ``train()`` reuses (the parameters do not change before it, see _forward).
        """
        outputs = self._evaluate(*self._rollout_inputs(buffer, used))
        self._rollout_forward = (outputs, np.cumsum(used.ravel()) - 1, self._n_updates)
        values = None if outputs[0] is None else outputs[0].detach().cpu().numpy()
        return values, outputs[1].detach().cpu().numpy()

    def train(self) -> None:
        """
        Update the policy with one gradient step on the whole rollout (shrunk if ``target_kl`` asks), then fit the value
        baseline for the next rollout (only the latter during the ``value_warmup_steps``).
        """
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        data = next(self.rollout_buffer.get())
        if self._value_warmup_done < self.value_warmup_steps:
            self._value_warmup_done += self._rollout_timesteps
            self.logger.record("train/value_warmup", 1)
            self.logger.record("train/value_fit_loss", self._fit_value(data.observations, data.returns))
            return
        actions = data.actions
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.long().flatten()

        masks = getattr(data, "action_masks", None)
        values, log_prob, entropy = self._forward(data.observations, actions, masks)
        weights = self._policy_weights(data.advantages)
        policy_loss = -(weights * log_prob).mean()
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
        loss = policy_loss + self.ent_coef * entropy_loss
        if self.kl_coef > 0:
            loss = loss + self._reference_loss(data.old_log_prob, log_prob)
        if values is not None:
            value_loss = F.mse_loss(data.returns, values)
            loss = loss + self.vf_coef * value_loss

        if not th.isfinite(loss):
            raise ValueError(f"non-finite loss ({loss.item()}): training stopped before the parameters changed")
        before = [p.detach().clone() for p in self._policy_parameters] if self.target_kl is not None else []
        self.policy.optimizer.zero_grad()
        loss.backward()
        if self.max_grad_norm is not None:
            grad_norm = th.nn.utils.clip_grad_norm_(self._policy_parameters, self.max_grad_norm)
            self.logger.record("train/policy_grad_norm", grad_norm.item())
        self.policy.optimizer.step()
        self._n_updates += 1
        kl, step_scale = self._limit_step(data.observations, actions, masks, log_prob.detach(), before)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/batch_size", len(data.returns))
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        if kl is not None:
            self.logger.record("train/kl", kl)
            self.logger.record("train/step_scale", step_scale)
        if values is not None:
            self.logger.record("train/value_loss", value_loss.item())
            self.logger.record(
                "train/explained_variance", explained_variance(data.old_values.cpu().numpy(), data.returns.cpu().numpy())
            )
            if self.n_value_epochs > 0:
                self.logger.record("train/value_fit_loss", self._fit_value(data.observations, data.returns))
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _reference_loss(self, old_log_prob: th.Tensor, log_prob: th.Tensor) -> th.Tensor | float:
        """
        The KL term of the loss: with ``kl_penalty="loss"``, ``kl_coef`` times the mean k3 estimate ``r - 1 - log r``,
        ``r = pi_ref / pi`` (GRPO's); 0 with ``"reward"`` (the penalty is in the returns). Log ``train/ref_kl`` (k3 of
        the behaviour policy: an unbiased, non-negative estimate of the per-step KL(pi || pi_ref)) and, with
        ``"reward"``, ``train/ref_kl_share`` (the penalty summed over the batch over the sum of the env's |rewards|).
        """
        buffer = self.rollout_buffer
        ref_log_prob = th.as_tensor(buffer.ref_log_probs[buffer._indices].flatten(), device=self.device)
        old_ratio = ref_log_prob - old_log_prob
        self.logger.record("train/ref_kl", th.mean(th.exp(old_ratio) - 1 - old_ratio).item())
        if self.kl_penalty == "reward":
            penalty = self.kl_coef * -old_ratio  # what was subtracted from each reward
            rewards = th.as_tensor(buffer.rewards[buffer._indices].flatten(), device=self.device)
            env_rewards = (rewards + penalty).abs().sum()
            if env_rewards > 0:
                self.logger.record("train/ref_kl_share", (penalty.sum() / env_rewards).item())
            return 0.0
        log_ratio = ref_log_prob - log_prob
        return self.kl_coef * th.mean(th.exp(log_ratio) - 1 - log_ratio)

    def _policy_weights(self, advantages: th.Tensor) -> th.Tensor:
        """The weights ``w_t = G_t - b(s_t)`` (the buffer's advantages) of the log-probabilities, standardized if asked."""
        if self.normalize_advantage in (True, "batch") and len(advantages) > 1:
            return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        return advantages

    def _forward(self, observations: Any, actions: th.Tensor, action_masks: Any) -> tuple[th.Tensor | None, th.Tensor, Any]:
        """
        Values, log-probabilities and entropies of the rollout's transitions in ``get()``'s order, with the gradient:
        taken from the batched pass of ``_compute_baseline`` when no update has happened since, else computed.
        """
        cached, self._rollout_forward = getattr(self, "_rollout_forward", None), None
        buffer = self.rollout_buffer
        if cached is None or cached[2] != self._n_updates or not buffer.generator_ready:
            return self._evaluate(observations, actions, action_masks)
        outputs, position, _ = cached
        n_rows = buffer.pos
        env, row = np.divmod(buffer._indices, n_rows)  # get() lays the steps out env by env
        order = th.as_tensor(position[row * buffer.n_envs + env], device=self.device)
        return tuple(None if output is None else output[order] for output in outputs)  # type: ignore[return-value]

    def _evaluate(self, observations: Any, actions: th.Tensor, action_masks: Any) -> tuple[th.Tensor | None, th.Tensor, Any]:
        """Values (``None`` without the value baseline: the critic is not run), log-probabilities and entropies."""
        kwargs = self._distribution_kwargs(action_masks)
        if self.baseline == "value":
            values, log_prob, entropy = self.policy.evaluate_actions(observations, actions, **kwargs)
            return values.flatten(), log_prob, entropy
        distribution = self.policy.get_distribution(observations, **kwargs)
        return None, distribution.log_prob(actions), distribution.entropy()

    def _policy_kl(self, observations: Any, actions: th.Tensor, action_masks: Any, old_log_prob: th.Tensor) -> float:
        """Estimate of KL(old policy || current policy) on the rollout: ``mean(ratio - 1 - log ratio)`` (Schulman's k3)."""
        with th.no_grad():
            distribution = self.policy.get_distribution(observations, **self._distribution_kwargs(action_masks))
            log_ratio = distribution.log_prob(actions) - old_log_prob
            return th.mean(th.exp(log_ratio) - 1 - log_ratio).item()

    def _limit_step(
        self, observations: Any, actions: th.Tensor, action_masks: Any, old_log_prob: th.Tensor, before: list[th.Tensor]
    ) -> tuple[float | None, float]:
        """
        Shrink the policy's step, keeping its direction, until the KL is within ``target_kl`` (halving it at most
        ``MAX_BACKTRACKS`` times; undone if it never is). Changes the policy's parameters only. Return (KL, step scale);
        without ``target_kl`` nothing is measured (KL ``None``) and ``before`` (the parameters before the step) is empty.
        """
        if self.target_kl is None:
            return None, 1.0
        kl = self._policy_kl(observations, actions, action_masks, old_log_prob)
        if kl <= self.target_kl:
            return kl, 1.0
        steps = [p.detach() - p0 for p, p0 in zip(self._policy_parameters, before, strict=True)]
        scale = 1.0
        for _ in range(MAX_BACKTRACKS):
            scale /= 2
            with th.no_grad():
                for parameter, start, step in zip(self._policy_parameters, before, steps, strict=True):
                    parameter.copy_(start + scale * step)
            kl = self._policy_kl(observations, actions, action_masks, old_log_prob)
            if kl <= self.target_kl:
                return kl, scale
        with th.no_grad():
            for parameter, start in zip(self._policy_parameters, before, strict=True):
                parameter.copy_(start)
        return 0.0, 0.0

    def _fit_value(self, observations: Any, returns: th.Tensor) -> float:
        """
        ``n_value_epochs`` passes of minibatch regression of V(s) on the Monte Carlo returns, with the value optimizer.
        Changes the value-only parameters: the policy's output is unchanged. Return the last epoch's mean loss.
        """
        update_learning_rate(self.value_optimizer, self.vf_lr_schedule(self._current_progress_remaining))
        policy = self.policy
        shared = policy.share_features_extractor  # then the value fit must not change the features: they are the policy's
        if shared:
            with th.no_grad():
                features = self._critic_features(observations)
        n_samples = len(returns)
        for _ in range(self.n_value_epochs):
            losses = []
            for indices in th.randperm(n_samples, device=self.device).split(self.value_batch_size or n_samples):
                batch_features = features[indices] if shared else self._critic_features(_select(observations, indices))
                values = policy.value_net(policy.mlp_extractor.forward_critic(batch_features)).flatten()
                loss = F.mse_loss(returns[indices], values)
                self.value_optimizer.zero_grad()
                loss.backward()
                self.value_optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses))

    def _critic_features(self, observations: Any) -> th.Tensor:
        policy = self.policy
        preprocessed = preprocess_obs(observations, policy.observation_space, normalize_images=policy.normalize_images)
        return policy.vf_features_extractor(preprocessed)

    def learn(
        self: SelfREINFORCE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCE:
        """
        Return a trained model.

        As in SB3, training stops after the first rollout that reaches ``total_timesteps``. A rollout takes ``n_steps``
        steps per env and then (unless ``rollout_mode="bootstrap"``) runs on until every env's episode in progress has
        ended, so that no return is cut short: ``num_timesteps`` can end past ``total_timesteps`` by up to a rollout's
        length. Each rollout's length (steps per env) is logged as ``rollout/length``, and with ``verbose >= 1`` the
        logger says how many steps ``learn()`` ran past ``total_timesteps``.

        :param total_timesteps: The total number of samples (env steps) to train on, a lower bound (see above)
        :param callback: callback(s) called at every step with state of the algorithm.
        :param log_interval: The number of rollouts (training iterations) between logs
        :param tb_log_name: the name of the run for TensorBoard logging
        :param reset_num_timesteps: whether or not to reset the current timestep number (used in logging)
        :param progress_bar: Display a progress bar using tqdm and rich.
        :return: the trained model
        """
        super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
        overshoot = self.num_timesteps - self._total_timesteps
        if overshoot > 0 and self.verbose >= 1:
            completion = "" if self.rollout_mode == "bootstrap" else ", then to the end of each env's episode"
            self.logger.info(
                f"learn() ran {overshoot} steps past total_timesteps (num_timesteps={self.num_timesteps}) to finish "
                f"its last rollout (n_steps per env{completion})"
            )
        return self


def _select(observations: Any, mask: Any) -> Any:
    """The rows of observations (an array, a tensor or a dict of them) that ``mask`` (booleans or indices) picks."""
    if isinstance(observations, dict):
        return {key: value[mask] for key, value in observations.items()}
    return observations[mask]


def _stack(observations: list[Any]) -> Any:
    """Stack single observations (arrays or dicts of arrays) into a batch."""
    if isinstance(observations[0], dict):
        return {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    return np.stack(observations)

import csv
import itertools
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from envs import OffsetEnv
from sb3_reinforce import REINFORCE

EP_LENGTH = 10
ACTION_SPACE_ENVS = {
    "Discrete": lambda: IdentityEnv(dim=3, ep_length=EP_LENGTH),
    "Box": lambda: IdentityEnvBox(ep_length=EP_LENGTH),
    "MultiDiscrete": lambda: IdentityEnvMultiDiscrete(dim=3, ep_length=EP_LENGTH),
    "MultiBinary": lambda: IdentityEnvMultiBinary(dim=3, ep_length=EP_LENGTH),
}
VALID_OPTIONS = [
    ("none", "carry"),
    ("none", "discard"),
    ("mean", "carry"),
    ("mean", "discard"),
    ("value", "carry"),
    ("value", "discard"),
    ("value", "bootstrap"),
]


def parameters(module: th.nn.Module) -> dict[str, th.Tensor]:
    return {name: param.detach().clone() for name, param in module.named_parameters()}


def changed(before: dict[str, th.Tensor], module: th.nn.Module) -> bool:
    return any(not th.equal(before[name], param) for name, param in module.named_parameters())


class RecordRollouts(BaseCallback):
    """Record the rollout buffer at the end of each rollout (returns computed, before the update)."""

    model: REINFORCE

    def __init__(self):
        super().__init__()
        self.buffer_sizes, self.lengths, self.n_valid, self.n_carried = [], [], [], []
        self.observations, self.rewards = [], []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.buffer_sizes.append(buffer.buffer_size)
        self.lengths.append(self.model.logger.name_to_value["rollout/length"])
        self.n_valid.append(int(buffer.valid[: buffer.pos].sum()))
        self.n_carried.append(buffer.n_carried)
        if isinstance(buffer.observations, np.ndarray):
            self.observations.append(buffer.observations[: buffer.pos].copy())
        self.rewards.append(buffer.rewards[: buffer.pos].copy())


@pytest.mark.parametrize("baseline,rollout_mode", VALID_OPTIONS)
@pytest.mark.parametrize("action_space", list(ACTION_SPACE_ENVS))
def test_action_spaces(action_space, baseline, rollout_mode):
    env = make_vec_env(ACTION_SPACE_ENVS[action_space], n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=8, baseline=baseline, rollout_mode=rollout_mode, seed=0)
    before = parameters(model.policy.action_net)
    model.learn(total_timesteps=200)
    assert model.num_timesteps >= 200
    assert model._n_updates >= 2
    assert changed(before, model.policy.action_net)


class DictObsEnv(gym.Env):
    """Dict observations with a vector, a discrete and an image part; truncated after a few steps."""

    def __init__(self, ep_length: int = 7):
        self.observation_space = spaces.Dict(
            {
                "vec": spaces.Box(-1, 1, shape=(3,), dtype=np.float32),
                "discrete": spaces.Discrete(4),
                "img": spaces.Box(0, 255, shape=(36, 36, 1), dtype=np.uint8),
            }
        )
        self.action_space = spaces.Discrete(2)
        self.ep_length = ep_length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.step_count += 1
        return self.observation_space.sample(), float(action), False, self.step_count >= self.ep_length, {}


@pytest.mark.parametrize("rollout_mode", ["carry", "bootstrap"])
def test_dict_obs(rollout_mode):
    """MultiInputPolicy, with truncations bootstrapped from Dict terminal observations."""
    env = DummyVecEnv([lambda: DictObsEnv(ep_length=5), lambda: DictObsEnv(ep_length=7)])
    model = REINFORCE("MultiInputPolicy", env, n_steps=8, baseline="value", rollout_mode=rollout_mode, seed=0)
    recorder = RecordRollouts()
    model.learn(total_timesteps=64, callback=recorder)
    assert model._n_updates >= 2
    assert set(model.rollout_buffer.observations) == {"vec", "discrete", "img"}
    # Carry mode keeps the steps of the env whose episode ended first (and uses them in the next rollout)
    assert (max(recorder.n_carried) > 0) == (rollout_mode == "carry")


def test_simple_multi_obs_env():
    model = REINFORCE("MultiInputPolicy", SimpleMultiObsEnv(random_start=True), n_steps=16, baseline="mean", seed=0)
    before = parameters(model.policy.action_net)
    model.learn(total_timesteps=32)
    assert changed(before, model.policy.action_net)


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("rollout_mode", ["carry", "bootstrap"])
def test_cnn_policy(discrete, rollout_mode):
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=discrete)
    model = REINFORCE("CnnPolicy", env, n_steps=8, baseline="value", rollout_mode=rollout_mode, seed=0)
    before = parameters(model.policy.features_extractor)
    model.learn(total_timesteps=24)
    assert model._n_updates >= 2
    assert changed(before, model.policy.features_extractor)


@pytest.mark.parametrize("sde_sample_freq", [-1, 4])
@pytest.mark.parametrize("baseline", ["none", "value"])
def test_gsde(baseline, sde_sample_freq):
    env = IdentityEnvBox(ep_length=EP_LENGTH)
    model = REINFORCE("MlpPolicy", env, n_steps=8, baseline=baseline, use_sde=True, sde_sample_freq=sde_sample_freq, seed=0)
    assert model.policy.use_sde
    before = parameters(model.policy)
    model.learn(total_timesteps=64)
    assert not th.equal(before["log_std"], model.policy.log_std)
    assert "train/std" in model.logger.name_to_value


class RecordLearningRate(BaseCallback):
    def __init__(self):
        super().__init__()
        self.learning_rates = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self.learning_rates.append(self.model.policy.optimizer.param_groups[0]["lr"])


def test_learning_rate_schedule():
    def schedule(progress_remaining: float) -> float:
        return 1e-3 * progress_remaining

    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, learning_rate=schedule, seed=0)
    recorder = RecordLearningRate()
    model.learn(total_timesteps=100, callback=recorder)
    learning_rates = recorder.learning_rates[1:]  # each one set by the previous update
    assert len(learning_rates) >= 5
    assert all(later < earlier for earlier, later in itertools.pairwise(learning_rates))
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(schedule(model._current_progress_remaining))
    assert model.policy.optimizer.param_groups[0]["lr"] < 2e-4


@pytest.mark.parametrize("max_grad_norm", [None, 1e-9])
def test_max_grad_norm(max_grad_norm):
    """Clipping the gradient to a tiny norm makes Adam's first step much smaller than the learning rate."""
    learning_rate = 1e-3
    env = IdentityEnv(dim=3, ep_length=EP_LENGTH)
    model = REINFORCE("MlpPolicy", env, n_steps=10, learning_rate=learning_rate, max_grad_norm=max_grad_norm, seed=0)
    before = parameters(model.policy.action_net)
    model.learn(total_timesteps=10)
    assert model._n_updates == 1
    step = max((param - before[name]).abs().max().item() for name, param in model.policy.action_net.named_parameters())
    if max_grad_norm is None:
        assert step > 0.5 * learning_rate
    else:
        assert 0 < step < 0.01 * learning_rate


class ZeroRewardEnv(gym.Env):
    def __init__(self):
        self.observation_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.step_count += 1
        return self.observation_space.sample(), 0.0, self.step_count >= 5, False, {}


@pytest.mark.parametrize("ent_coef", [0.0, 0.1])
def test_ent_coef(ent_coef):
    """With zero rewards the policy gradient vanishes: only the entropy bonus moves the policy, toward more entropy."""
    model = REINFORCE("MlpPolicy", ZeroRewardEnv(), n_steps=10, baseline="none", ent_coef=ent_coef, learning_rate=1e-2, seed=0)
    obs = th.as_tensor(np.random.default_rng(0).uniform(-1, 1, size=(32, 2)), dtype=th.float32)

    def entropy() -> float:
        with th.no_grad():
            return model.policy.get_distribution(obs).entropy().mean().item()

    with th.no_grad():  # start from a low-entropy policy, so that the entropy bonus has room to act
        model.policy.action_net.bias.copy_(th.tensor([2.0, 0.0, -2.0]))
    before, entropy_before = parameters(model.policy), entropy()
    model.learn(total_timesteps=50)
    if ent_coef == 0:
        assert not changed(before, model.policy)
        assert entropy() == entropy_before
    else:
        assert changed(before, model.policy)
        assert entropy() > entropy_before


@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
def test_n_envs(vec_env_cls):
    env = make_vec_env(IdentityEnv, n_envs=3, env_kwargs=dict(dim=2, ep_length=EP_LENGTH), vec_env_cls=vec_env_cls, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=8, seed=0)
    before = parameters(model.policy.action_net)
    model.learn(total_timesteps=150)
    assert model.n_envs == 3
    assert model.num_timesteps >= 150
    assert model.num_timesteps % 3 == 0
    assert changed(before, model.policy.action_net)
    env.close()


def test_vec_normalize():
    env = VecNormalize(make_vec_env(OffsetEnv, n_envs=2, seed=0), gamma=0.9)
    model = REINFORCE("MlpPolicy", env, n_steps=8, gamma=0.9, baseline="value", seed=0)
    recorder = RecordRollouts()
    model.learn(total_timesteps=200, callback=recorder)
    assert env.obs_rms.count > 200
    np.testing.assert_allclose(env.obs_rms.mean, 100.0, atol=0.5)
    # The model sees (and stores) the normalized observations and rewards, not the raw ones
    obs, rewards = recorder.observations[-1], recorder.rewards[-1]
    assert np.abs(obs).max() < 10.0
    assert np.abs(obs.mean()) < 2.0
    assert not np.isin(rewards, [5.0, 6.0]).any()
    assert model.get_vec_normalize_env() is env


def test_eval_callback_stops_training(tmp_path):
    eval_env = make_vec_env(IdentityEnv, n_envs=1, env_kwargs=dict(dim=2, ep_length=EP_LENGTH))
    # Any policy reaches this threshold: training stops at the first evaluation
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1.0)
    eval_callback = EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=25, n_eval_episodes=2, log_path=str(tmp_path))
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, seed=0)
    model.learn(total_timesteps=5_000, callback=eval_callback)
    assert eval_callback.n_calls == 25
    assert model.num_timesteps == 25
    assert (tmp_path / "evaluations.npz").is_file()


def test_checkpoint_callback(tmp_path):
    checkpoint = CheckpointCallback(save_freq=20, save_path=str(tmp_path), name_prefix="reinforce")
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, seed=0)
    model.learn(total_timesteps=60, callback=checkpoint)
    saved = sorted(path.name for path in tmp_path.glob("reinforce_*_steps.zip"))
    assert saved == ["reinforce_20_steps.zip", "reinforce_40_steps.zip", "reinforce_60_steps.zip"]
    loaded = REINFORCE.load(tmp_path / "reinforce_60_steps.zip")
    assert loaded.num_timesteps == 60


@pytest.mark.filterwarnings("ignore::tqdm.TqdmExperimentalWarning")
def test_progress_bar(capfd):
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, seed=0)
    model.learn(total_timesteps=50, progress_bar=True)
    assert model.num_timesteps == 50
    assert "50/50" in "".join(capfd.readouterr())


def test_tensorboard_log_name(tmp_path):
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, tensorboard_log=str(tmp_path), seed=0)
    model.learn(total_timesteps=30)
    model.learn(total_timesteps=30)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["REINFORCE_1", "REINFORCE_2"]
    assert list((tmp_path / "REINFORCE_1").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_logger_keys(tmp_path, baseline):
    n_steps, n_envs = 8, 2
    env = make_vec_env(IdentityEnv, n_envs=n_envs, env_kwargs=dict(dim=2, ep_length=20), seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=n_steps, baseline=baseline, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(total_timesteps=4 * 20 * n_envs)
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) >= 3
    keys = set(rows[0])
    expected = {
        "train/policy_loss",
        "train/entropy_loss",
        "train/n_updates",
        "train/batch_size",
        "train/learning_rate",
        "rollout/length",
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "time/fps",
    }
    value_keys = {"train/value_loss", "train/explained_variance"}
    assert expected <= keys
    if baseline == "value":
        assert value_keys <= keys
    else:
        assert not value_keys & keys
    last = rows[-1]
    # The episodes last 20 steps, all in step: every rollout runs on to the end of one, and uses all its steps
    assert float(last["rollout/length"]) == 20
    assert float(last["train/batch_size"]) == 20 * n_envs
    assert float(last["rollout/ep_len_mean"]) == 20


@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_value_head_trained_only_with_value_baseline(baseline):
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=3, ep_length=EP_LENGTH), n_steps=10, baseline=baseline, seed=0)
    policy = model.policy
    value_modules = [policy.value_net, policy.mlp_extractor.value_net]
    value_before = [parameters(module) for module in value_modules]
    policy_before = parameters(policy.action_net), parameters(policy.mlp_extractor.policy_net)
    model.learn(total_timesteps=50)
    assert changed(policy_before[0], policy.action_net)
    assert changed(policy_before[1], policy.mlp_extractor.policy_net)
    for before, module in zip(value_before, value_modules, strict=True):
        assert changed(before, module) == (baseline == "value")


@pytest.mark.parametrize("normalize_advantage", [True, False])
@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_loss_matches_formula(baseline, normalize_advantage):
    """The logged losses are those of the update on the valid steps of the rollout, recomputed here by hand."""
    env = DummyVecEnv([lambda: IdentityEnv(dim=3, ep_length=7), lambda: IdentityEnv(dim=3, ep_length=5)])
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=10,
        gamma=0.9,
        baseline=baseline,
        normalize_advantage=normalize_advantage,
        rollout_mode="discard",
        seed=0,
    )
    _, callback = model._setup_learn(1000, None)
    buffer = model.rollout_buffer
    assert model.collect_rollouts(model.env, callback, buffer, model.n_steps)
    valid = buffer.valid[: buffer.pos]
    assert not valid.all()  # steps past the end of the last episodes are left out
    returns = th.as_tensor(buffer.returns[: buffer.pos][valid])
    obs = th.as_tensor(buffer.observations[: buffer.pos][valid])
    actions = th.as_tensor(buffer.actions[: buffer.pos][valid]).long().flatten()
    with th.no_grad():
        values, log_prob, entropy = model.policy.evaluate_actions(obs, actions)
    weights = {"none": returns, "mean": returns - returns.mean(), "value": returns - values.flatten()}[baseline]
    if normalize_advantage:
        weights = (weights - weights.mean()) / (weights.std() + 1e-8)

    model.train()
    logged = model.logger.name_to_value
    assert logged["train/batch_size"] == valid.sum()
    assert logged["train/policy_loss"] == pytest.approx(-(weights * log_prob).mean().item(), rel=1e-4, abs=1e-6)
    assert logged["train/entropy_loss"] == pytest.approx(-entropy.mean().item(), rel=1e-5)
    if baseline == "value":
        assert logged["train/value_loss"] == pytest.approx(((returns - values.flatten()) ** 2).mean().item(), rel=1e-5)


class NeverEndingEnv(gym.Env):
    """Episodes end every ``end_every`` steps, or never."""

    def __init__(self, end_every: int | None = None):
        self.observation_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.end_every = end_every

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.step_count += 1
        terminated = self.end_every is not None and self.step_count % self.end_every == 0
        return self.observation_space.sample(), float(action), terminated, False, {}


@pytest.mark.parametrize("baseline,rollout_mode", [("none", "carry"), ("value", "carry"), ("mean", "discard")])
@pytest.mark.parametrize("end_every", [None, 3])
def test_never_ending_episodes(baseline, rollout_mode, end_every):
    """The completion phase is capped: learn() returns, with a warning, and the buffer stays bounded."""
    n_steps, max_completion_steps = 10, 20
    env = DummyVecEnv([NeverEndingEnv, lambda: NeverEndingEnv(end_every)])
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=n_steps,
        baseline=baseline,
        rollout_mode=rollout_mode,
        max_completion_steps=max_completion_steps,
        seed=0,
    )
    recorder = RecordRollouts()
    with pytest.warns(UserWarning, match="max_completion_steps=20"):
        model.learn(total_timesteps=2 * 15 * (n_steps + max_completion_steps), callback=recorder)
    assert len(recorder.lengths) == 15
    assert recorder.lengths == [n_steps + max_completion_steps] * 15
    # Rows kept for the next rollout are at most max_completion_steps, so the storage stops growing
    assert max(recorder.buffer_sizes) <= 4 * (n_steps + max_completion_steps)
    assert recorder.buffer_sizes[-1] == recorder.buffer_sizes[len(recorder.buffer_sizes) // 2]


# gymnasium's EnvCreator protocol takes only **kwargs, which no env class with parameters matches
gym.register("NeverEndingTimeLimit-v0", entry_point=NeverEndingEnv, max_episode_steps=1_100)  # type: ignore[arg-type]


def test_completion_limit_follows_time_limit():
    """Without max_completion_steps, episodes under a time limit longer than the default cap still complete."""
    env = DummyVecEnv([lambda: gym.make("NeverEndingTimeLimit-v0")])
    model = REINFORCE("MlpPolicy", env, n_steps=10, baseline="none", seed=0)
    recorder = RecordRollouts()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*max_completion_steps.*")
        model.learn(total_timesteps=10, callback=recorder)
    assert recorder.lengths == [1_100]
    assert recorder.n_valid == [1_100]


def test_no_warning_when_episodes_end():
    env = make_vec_env(IdentityEnv, n_envs=2, env_kwargs=dict(dim=2), seed=0)  # episodes of 100 steps
    model = REINFORCE("MlpPolicy", env, n_steps=10, rollout_mode="carry", max_completion_steps=200, seed=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*max_completion_steps.*")
        model.learn(total_timesteps=400)
    assert model.num_timesteps >= 400


def test_evaluate_policy():
    model = REINFORCE("MlpPolicy", IdentityEnv(dim=2, ep_length=EP_LENGTH), n_steps=10, seed=0)
    model.learn(total_timesteps=50)
    eval_env = make_vec_env(IdentityEnv, n_envs=1, env_kwargs=dict(dim=2, ep_length=EP_LENGTH))
    rewards, lengths = evaluate_policy(model, eval_env, n_eval_episodes=3, return_episode_rewards=True)
    assert lengths == [EP_LENGTH] * 3
    assert all(0 <= reward <= EP_LENGTH for reward in rewards)
    mean_reward, std_reward = evaluate_policy(model, eval_env, n_eval_episodes=3)
    assert 0 <= mean_reward <= EP_LENGTH
    assert std_reward >= 0


@pytest.mark.parametrize("rollout_mode,rollout_length", [("discard", 50), ("bootstrap", 8)])
def test_overshoot_logged(capsys, rollout_mode, rollout_length):
    """No 50-step episode ends within the budget of 10 steps: the rollout runs on to their end, and says so."""
    env = make_vec_env(IdentityEnv, n_envs=2, env_kwargs=dict(dim=2, ep_length=50), seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=8, rollout_mode=rollout_mode, verbose=1, seed=0)
    for reset_num_timesteps in (True, False):
        num_timesteps = model.num_timesteps
        model.learn(total_timesteps=10, reset_num_timesteps=reset_num_timesteps)
        assert model.num_timesteps - num_timesteps == 2 * rollout_length
        logged = re.findall(r"learn\(\) ran (\d+) steps past total_timesteps \(num_timesteps=(\d+)\)", capsys.readouterr().out)
        assert logged == [(str(2 * rollout_length - 10), str(model.num_timesteps))]

    model = REINFORCE("MlpPolicy", env, n_steps=8, seed=0)  # verbose=0: nothing printed
    model.learn(total_timesteps=10)
    assert model.num_timesteps == 100 and capsys.readouterr().out == ""

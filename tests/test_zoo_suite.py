"""
The zoo file covers every env (issue 23): an env without an entry trains on the ``default`` entry, every Atari game on
the ``atari`` entry, and rl_zoo3's own ``tests/test_train.py`` cases pass with ``reinforce`` in place of ``a2c``.
"""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import rl_zoo3
import yaml

from sb3_reinforce.zoo import ZOO_CONFIGS

sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")]

N_STEPS = 100  # as rl_zoo3's test_train


def train(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sb3_reinforce.zoo", "train", "-n", str(N_STEPS), "--log-folder", str(tmp_path)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


def assert_trained(result: subprocess.CompletedProcess, tmp_path, algo: str, env_id: str) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    folder = os.path.join(tmp_path, algo, f"{env_id.replace('/', '-')}_1")
    assert os.path.isfile(os.path.join(folder, f"{env_id.replace('/', '-')}.zip")), os.listdir(tmp_path)


def recorded_hyperparameters(tmp_path, algo: str, env_id: str) -> dict:
    path = os.path.join(tmp_path, algo, f"{env_id.replace('/', '-')}_1", env_id.replace("/", "-"), "config.yml")
    with open(path) as file:
        return dict(yaml.load(file, Loader=yaml.UnsafeLoader))


@pytest.mark.parametrize("algo", ["reinforce", "reinforce_mask"])
def test_every_file_has_a_default_entry(algo):
    with open(os.path.join(ZOO_CONFIGS, f"{algo}.yml")) as file:
        entries = yaml.safe_load(file)
    assert entries["default"] == {"n_timesteps": 1e6, "policy": "MlpPolicy"}  # the package's own defaults


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "BipedalWalkerHardcore-v3"])
def test_an_env_without_an_entry_trains_on_the_default_entry(tmp_path, env_id):
    result = train(tmp_path, "--algo", "reinforce", "--env", env_id)
    assert "Using 'default' hyperparameters" in result.stdout
    assert_trained(result, tmp_path, "reinforce", env_id)


def test_a_custom_registered_env_trains_on_the_default_entry(tmp_path):
    # registered in the training process itself, as a user's package would (rl_zoo3's --gym-packages imports it)
    module = tmp_path / "my_envs.py"
    module.write_text(
        "import gymnasium as gym\n"
        "gym.register('MyCartPole-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', max_episode_steps=50)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "sb3_reinforce.zoo", "train", "-n", str(N_STEPS), "--log-folder", str(tmp_path)]
    command += ["--algo", "reinforce", "--env", "MyCartPole-v0", "--gym-packages", "my_envs"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert "Using 'default' hyperparameters" in result.stdout
    assert_trained(result, tmp_path, "reinforce", "MyCartPole-v0")


@pytest.mark.parametrize("env_id", ["ALE/Pong-v5", "PongNoFrameskip-v4"])
def test_atari_games_train_on_the_atari_entry(tmp_path, env_id):
    result = train(tmp_path, "--algo", "reinforce", "--env", env_id, "-params", "n_envs:2", "n_steps:16")
    assert_trained(result, tmp_path, "reinforce", env_id)
    hyperparameters = recorded_hyperparameters(tmp_path, "reinforce", env_id)
    assert hyperparameters["policy"] == "CnnPolicy" and hyperparameters["frame_stack"] == 4


# rl_zoo3's tests/test_train.py, with reinforce in place of a2c (its off-policy cases, SAC/TD3/DDPG and the replay
# buffer, have no REINFORCE counterpart)
def test_zoo_test_train_cartpole(tmp_path):
    assert_trained(train(tmp_path, "--algo", "reinforce", "--env", "CartPole-v1"), tmp_path, "reinforce", "CartPole-v1")


def test_zoo_continue_training(tmp_path):
    first = tmp_path / "first"
    assert_trained(train(first, "--algo", "reinforce", "--env", "CartPole-v1"), first, "reinforce", "CartPole-v1")
    trained = first / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip"
    result = train(tmp_path / "second", "--algo", "reinforce", "--env", "CartPole-v1", "-i", str(trained))
    assert_trained(result, tmp_path / "second", "reinforce", "CartPole-v1")


def test_zoo_custom_yaml(tmp_path):
    # rl_zoo3's A2C file for REINFORCE, with overrides, and a policy given by its import path
    a2c_file = os.path.join(os.path.dirname(rl_zoo3.__file__), "hyperparams", "a2c.yml")
    params = ["n_envs:2", "n_steps:50", "policy:'stable_baselines3.common.policies.ActorCriticPolicy'"]
    result = train(tmp_path, "--algo", "reinforce", "--env", "CartPole-v1", "-conf", a2c_file, "-params", *params)
    assert_trained(result, tmp_path, "reinforce", "CartPole-v1")
    assert recorded_hyperparameters(tmp_path, "reinforce", "CartPole-v1")["n_envs"] == 2


def test_every_entry_names_a_registered_env():
    import ale_py  # noqa: F401  (registers the ALE envs)

    with open(os.path.join(ZOO_CONFIGS, "reinforce.yml")) as file:
        entries = yaml.safe_load(file)
    unknown = [key for key in entries if key not in ("default", "atari") and key not in gym.registry]
    assert not unknown


def test_a_long_benchmark_run_resumes_from_its_checkpoint(tmp_path):
    """benchmarks/zoo_benchmark.py's runs of 1M steps and more outlast a session: stopped at 800 of 1,200 steps, a run
    started again goes on from its checkpoint (parameters, step count, VecNormalize statistics, curves), not from 0."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    from stable_baselines3.common.vec_env import VecNormalize

    from benchmarks.common import TwoWayEvaluation
    from sb3_reinforce import REINFORCE

    path, checkpoint = str(tmp_path / "curves.npz"), str(tmp_path / "run.partial")

    def model(seed: int) -> REINFORCE:
        env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=seed))
        return REINFORCE("MlpPolicy", env, n_steps=200, learning_rate=lambda progress: 1e-3 * progress, seed=seed)

    def evaluation() -> TwoWayEvaluation:
        return TwoWayEvaluation("Pendulum-v1", 400, path, n_eval_episodes=2, checkpoint=checkpoint)

    class Stop(BaseCallback):  # the end of a session
        def _on_step(self) -> bool:
            return self.num_timesteps < 800

    class Probe(BaseCallback):
        def _on_training_start(self) -> None:
            self.start = (self.model.num_timesteps, {k: v.clone() for k, v in self.model.policy.state_dict().items()})
            training = self.model.get_vec_normalize_env()
            assert training is not None and isinstance(training.obs_rms, RunningMeanStd)
            self.count = training.obs_rms.count

        def _on_step(self) -> bool:
            return True

    model(0).learn(1200, callback=[evaluation(), Stop()])
    saved = REINFORCE.load(os.path.join(checkpoint, "model.zip"))
    probe, resumed = Probe(), model(1)
    statistics = VecNormalize.load(os.path.join(checkpoint, "vecnormalize.pkl"), resumed.get_env()).obs_rms
    assert isinstance(statistics, RunningMeanStd)
    count = statistics.count
    assert saved.num_timesteps == 800 and count > 800
    resumed.learn(1200, callback=[evaluation(), probe])
    assert probe.start[0] == 800 and probe.n_calls == 400 and resumed.num_timesteps == 1200
    assert all(np.array_equal(value, saved.policy.state_dict()[key]) for key, value in probe.start[1].items())
    assert probe.count == count
    curves = np.load(path)
    assert list(curves["timesteps"]) == [400, 800, 1200] and sorted(curves) == ["deterministic", "stochastic", "timesteps"]
    assert np.all(np.diff(np.load(os.path.join(checkpoint, "curves.npz"))["seconds"]) > 0)


def test_the_benchmark_runs_an_atari_game_on_the_atari_entries_and_scores_whole_games(tmp_path):
    """benchmarks/zoo_benchmark.py trains Breakout on the atari entries (ours and rl_zoo3 PPO's) at one budget, and
    evaluates it as the zoo trains it: 4 frames stacked, AtariWrapper over a Monitor (so a score is a whole game's)."""
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.env_util import is_wrapped, make_atari_env
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import VecFrameStack

    import zoo_benchmark
    from common import TwoWayEvaluation, is_atari
    from sb3_reinforce import REINFORCE

    game = "BreakoutNoFrameskip-v4"
    assert is_atari(game) and is_atari("ALE/Pong-v5") and not is_atari("CartPole-v1")
    for algo, source in (("reinforce", "zoo_configs/reinforce.yml (atari entry)"), ("ppo", "rl_zoo3 ppo.yml (atari entry)")):
        entry, found = zoo_benchmark.zoo_entry(algo, game)
        assert found == source and entry["policy"] == "CnnPolicy" and entry["frame_stack"] == 4
    assert {zoo_benchmark.budget_of(label, game) for label in ("reinforce", "ppo_own")} == {zoo_benchmark.ATARI_BUDGET}
    assert zoo_benchmark.resolved("ppo_own", game) == "ppo"  # the same budget: PPO beside REINFORCE

    env = VecFrameStack(make_atari_env(game, n_envs=2, seed=0), 4)
    model = REINFORCE("CnnPolicy", env, n_steps=16, rollout_mode="bootstrap", seed=0)
    path = str(tmp_path / "curves.npz")
    evaluation = TwoWayEvaluation(game, 32, path, n_eval_episodes=2, frame_stack=4)
    model.learn(32, callback=evaluation)
    assert evaluation.eval_env.observation_space.shape == (4, 84, 84)  # stacked, then channels first as for training
    game_env = evaluation.eval_env.venv.venv.envs[0]
    assert isinstance(game_env, AtariWrapper) and is_wrapped(game_env, Monitor)
    curves = np.load(path)
    assert list(curves["timesteps"]) == [32] and all(curves[key][0] >= 0 for key in ("stochastic", "deterministic"))


def test_the_retune_sweep_trains_an_atari_game_as_the_zoo_does():
    """benchmarks/common.build (the sweeps' model and envs) on a game: the atari entry's AtariWrapper over a Monitor and
    its frame stack, for training and for evaluation (whole games), without passing the zoo-only keys to REINFORCE."""
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.env_util import is_wrapped
    from stable_baselines3.common.monitor import Monitor

    import retune_sweep
    from common import build

    config = retune_sweep.ENVS["BreakoutNoFrameskip-v4"][4]["8envs_boot_n128_nonorm"]
    model, env, eval_env = build("BreakoutNoFrameskip-v4", {**config, "n_envs": 2}, seed=0, n_eval_envs=2)
    assert model.observation_space.shape == (4, 84, 84) and eval_env.observation_space.shape == (84, 84, 4)
    assert model.n_envs == 2 and not model.normalize_advantage and model.n_steps == 128
    for vec_env in (env, eval_env):
        game = vec_env.venv.envs[0]
        assert isinstance(game, AtariWrapper) and is_wrapped(game, Monitor)

"""
The zoo file covers every env (issue 23): an env without an entry trains on the ``default`` entry, every Atari game on
the ``atari`` entry, and rl_zoo3's own ``tests/test_train.py`` cases pass with ``reinforce`` in place of ``a2c``.
"""

import os
import subprocess
import sys

import gymnasium as gym
import pytest
import rl_zoo3
import yaml

from sb3_reinforce.zoo import ZOO_CONFIGS

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

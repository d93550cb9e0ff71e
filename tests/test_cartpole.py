"""The shipped CartPole-v1 config learns, and the main job (python -m sb3_reinforce) runs end to end."""

import os

import pytest
import yaml
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE
from sb3_reinforce.__main__ import main

ZOO_CONFIG = os.path.join(os.path.dirname(__file__), "..", "zoo_configs", "reinforce.yml")


def load_zoo_config() -> dict:
    with open(ZOO_CONFIG) as file:
        return yaml.safe_load(file)


def test_zoo_config_entries_are_valid_hyperparameters():
    for env_id, hyperparams in load_zoo_config().items():
        hyperparams = dict(hyperparams)
        assert hyperparams.pop("n_timesteps") <= 300_000 or env_id != "CartPole-v1"
        n_envs = hyperparams.pop("n_envs", 1)
        policy = hyperparams.pop("policy")
        # Every remaining key is a REINFORCE constructor argument (a typo would raise TypeError here)
        model = REINFORCE(policy, make_vec_env(env_id, n_envs=n_envs), **hyperparams)
        for key, value in hyperparams.items():
            assert getattr(model, key) == value


@pytest.mark.slow
def test_cartpole_zoo_config_reaches_threshold():
    hyperparams = dict(load_zoo_config()["CartPole-v1"])
    budget = int(hyperparams.pop("n_timesteps"))
    n_envs = hyperparams.pop("n_envs", 1)
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=475)
    callback = EvalCallback(eval_env, callback_on_new_best=stop, n_eval_episodes=10, eval_freq=5_000 // n_envs, verbose=0)
    model = REINFORCE(hyperparams.pop("policy"), env, seed=0, device="cpu", **hyperparams)
    model.learn(budget, callback=callback)
    assert model.num_timesteps < budget, "never reached 475 within the config's n_timesteps"
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    assert mean_return >= 475


def test_main_job_smoke(tmp_path, capsys):
    save_path = tmp_path / "model.zip"
    mean_return = main(["--timesteps", "1000", "--n-envs", "2", "--no-progress-bar", "--save-path", str(save_path)])
    assert save_path.exists()
    out = capsys.readouterr().out
    assert f"{mean_return:.1f}" in out
    assert str(save_path) in out
    assert REINFORCE.load(save_path).num_timesteps >= 1000

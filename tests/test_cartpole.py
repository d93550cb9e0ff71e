"""The shipped zoo config learns CartPole-v1, and the main job (python -m sb3_reinforce) runs end to end."""

import os

import pytest
import yaml
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE
from sb3_reinforce.train import load_zoo_hyperparams, main

ZOO_CONFIG = os.path.join(os.path.dirname(__file__), "..", "zoo_configs", "reinforce.yml")
with open(ZOO_CONFIG) as file:
    ZOO_ENVS = list(yaml.safe_load(file))


def make_model(env_id: str, seed: int = 0) -> tuple[REINFORCE, int]:
    hyperparams = load_zoo_hyperparams(ZOO_CONFIG, env_id)
    budget = int(hyperparams.pop("n_timesteps"))
    env = make_vec_env(env_id, n_envs=hyperparams.pop("n_envs", 1), seed=seed)
    return REINFORCE(hyperparams.pop("policy"), env, seed=seed, device="cpu", **hyperparams), budget


@pytest.mark.parametrize("env_id", ZOO_ENVS)
def test_zoo_config_entries_are_valid_hyperparameters(env_id):
    hyperparams = load_zoo_hyperparams(ZOO_CONFIG, env_id)
    model, _ = make_model(env_id)  # a misspelt key would be a TypeError, a bad value a ValueError
    for key, value in hyperparams.items():
        if key not in ("n_timesteps", "n_envs", "policy", "policy_kwargs"):
            assert getattr(model, key) == value, key


def test_cartpole_budget_within_acceptance():
    assert load_zoo_hyperparams(ZOO_CONFIG, "CartPole-v1")["n_timesteps"] <= 300_000


@pytest.mark.slow
def test_cartpole_zoo_config_reaches_threshold():
    """The shipped CartPole-v1 entry, trained for its full budget, evaluates at >= 475 (the env's threshold)."""
    model, budget = make_model("CartPole-v1", seed=0)
    model.learn(budget)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    assert mean_return >= 475


def test_load_zoo_hyperparams_errors(tmp_path):
    with pytest.raises(ValueError, match="no entry for Pendulum-v1"):
        load_zoo_hyperparams(ZOO_CONFIG, "Pendulum-v1")
    conf = tmp_path / "conf.yml"
    conf.write_text("CartPole-v1:\n  policy: MlpPolicy\n  policy_kwargs: 'dict(net_arch=[8], activation_fn=nn.ReLU)'\n")
    hyperparams = load_zoo_hyperparams(str(conf), "CartPole-v1")
    assert hyperparams["policy_kwargs"]["net_arch"] == [8]


def test_main_job_smoke(tmp_path, capsys):
    save_path = tmp_path / "model.zip"
    argv = ["--conf-file", ZOO_CONFIG, "--timesteps", "1000", "--eval-episodes", "2", "--no-progress-bar"]
    mean_return = main([*argv, "--save-path", str(save_path)])
    assert save_path.exists()
    out = capsys.readouterr().out
    assert f"Evaluation return over 2 episodes: {mean_return:.1f}" in out
    assert f"Model saved to {save_path}" in out
    loaded = REINFORCE.load(save_path)
    assert loaded.num_timesteps >= 1000
    assert loaded.n_envs == 4 and loaded.n_steps == 32  # the config's, not the defaults

"""The shipped zoo config learns CartPole-v1, and the main job (python -m sb3_reinforce) runs end to end."""

import os
import subprocess
import sys

import pytest
import yaml
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

from sb3_reinforce import REINFORCE
from sb3_reinforce.train import convert_zoo_values, load_zoo_hyperparams, main, make_envs

ROOT = os.path.join(os.path.dirname(__file__), "..")
ZOO_CONFIG = os.path.join(ROOT, "zoo_configs", "reinforce.yml")
with open(ZOO_CONFIG) as file:
    # the per-env entries; "default" and "atari" are rl_zoo3's fallbacks, trained through the launcher in test_zoo_suite.py
    ZOO_ENVS = [key for key in yaml.safe_load(file) if key not in ("default", "atari")]


def make_model(env_id: str, seed: int = 0) -> tuple[REINFORCE, int]:
    hyperparams = load_zoo_hyperparams(ZOO_CONFIG, env_id)
    budget = int(hyperparams.pop("n_timesteps"))
    gamma = hyperparams.get("gamma", 0.99)
    env, _ = make_envs(env_id, hyperparams.pop("n_envs", 1), seed, hyperparams.pop("normalize", False), gamma)
    return REINFORCE(hyperparams.pop("policy"), env, seed=seed, device="cpu", **hyperparams), budget


@pytest.mark.parametrize("env_id", ZOO_ENVS)
def test_zoo_config_entries_are_valid_hyperparameters(env_id):
    hyperparams = load_zoo_hyperparams(ZOO_CONFIG, env_id)
    model, _ = make_model(env_id)  # a misspelt key would be a TypeError, a bad value a ValueError
    assert isinstance(model.get_env(), VecNormalize) == bool(hyperparams.get("normalize", False))
    for key, value in hyperparams.items():
        if key == "learning_rate" and callable(value):  # a "lin_<x>" schedule
            assert model.lr_schedule(1.0) == value(1.0) and model.lr_schedule(0.5) == value(0.5)
        elif key not in ("n_timesteps", "n_envs", "policy", "policy_kwargs", "normalize"):
            assert getattr(model, key) == value, key
    model.learn(1)  # one rollout: the env, the policy and the update fit together
    assert model.num_timesteps >= model.n_envs * model.n_steps


def test_cartpole_budget_within_acceptance():
    assert load_zoo_hyperparams(ZOO_CONFIG, "CartPole-v1")["n_timesteps"] <= 300_000


@pytest.mark.slow
def test_cartpole_zoo_config_reaches_threshold():
    """
    The shipped CartPole-v1 entry, trained for its full budget, evaluates at >= 475 (the env's threshold), with the
    stochastic policy (the one trained) as with the deterministic one.
    """
    model, budget = make_model("CartPole-v1", seed=0)
    model.learn(budget)
    for deterministic in (True, False):
        eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
        mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=deterministic)
        assert mean_return >= 475, (deterministic, mean_return)


def test_load_zoo_hyperparams_errors(tmp_path):
    # an env without an entry gets the file's default entry, as in rl_zoo3 (the main job then trains it)
    assert load_zoo_hyperparams(ZOO_CONFIG, "Humanoid-v5") == load_zoo_hyperparams(ZOO_CONFIG, "default")
    conf = tmp_path / "conf.yml"
    conf.write_text("CartPole-v1:\n  policy: MlpPolicy\n  policy_kwargs: 'dict(net_arch=[8], activation_fn=nn.ReLU)'\n")
    hyperparams = load_zoo_hyperparams(str(conf), "CartPole-v1")
    assert hyperparams["policy_kwargs"]["net_arch"] == [8]
    with pytest.raises(ValueError, match="no entry for Humanoid-v5 and no default entry: it has CartPole-v1"):
        load_zoo_hyperparams(str(conf), "Humanoid-v5")


def test_main_job_missing_conf_file(tmp_path):
    """A --conf-file that does not exist is one line of error, as argparse reports a bad argument, not a traceback."""
    command = [sys.executable, "-m", "sb3_reinforce", "--conf-file", "missing.yml"]
    env = {**os.environ, "PYTHONPATH": ROOT}  # this checkout's code, whatever is installed
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "missing.yml" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "logs").exists()


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
    entry = load_zoo_hyperparams(ZOO_CONFIG, "CartPole-v1")
    assert (loaded.n_envs, loaded.n_steps, loaded.target_kl) == (entry["n_envs"], entry["n_steps"], entry["target_kl"])
    assert (loaded.n_envs, loaded.n_steps, loaded.target_kl) != (1, 128, None)  # the config's, not the defaults


def test_convert_zoo_values():
    """RL Zoo's string values: policy_kwargs code and linear schedules; other values pass through unchanged."""
    entry = {"learning_rate": "lin_3e-3", "policy_kwargs": "dict(log_std_init=-2, ortho_init=False)", "gamma": 0.9}
    converted = convert_zoo_values(entry)
    assert isinstance(converted["learning_rate"], LinearSchedule)
    assert converted["learning_rate"](1.0) == pytest.approx(3e-3) and converted["learning_rate"](0.25) == pytest.approx(7.5e-4)
    assert converted["policy_kwargs"] == {"log_std_init": -2, "ortho_init": False}
    assert converted["gamma"] == 0.9 and entry["learning_rate"] == "lin_3e-3"  # the entry itself is left as it was


@pytest.mark.parametrize("normalize", [True, "dict(norm_obs=True, norm_reward=False)"])
def test_main_job_normalize(tmp_path, normalize):
    """A zoo entry with ``normalize`` trains on VecNormalize, saves its statistics and evaluates on raw rewards."""
    conf = tmp_path / "conf.yml"
    conf.write_text(f"Pendulum-v1:\n  n_envs: 2\n  normalize: {'true' if normalize is True else repr(normalize)}\n")
    save_path = tmp_path / "model.zip"
    argv = ["--env", "Pendulum-v1", "--conf-file", str(conf), "--timesteps", "600", "--eval-episodes", "1"]
    mean_return = main([*argv, "--no-progress-bar", "--save-path", str(save_path)])
    stats = VecNormalize.load(str(tmp_path / "model_vecnormalize.pkl"), make_vec_env("Pendulum-v1"))
    assert stats.norm_reward == (normalize is True) and stats.obs_rms.count > 600  # updated during training
    # An untrained policy's raw Pendulum return is about -1000 (the worst is -3273); normalized it would be a few units
    assert -3300 < mean_return < -300

"""The MinAtar game example (examples/minatar_game.py): its env, an end-to-end run on a tiny budget, and learning."""

import os
import warnings

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

pytest.importorskip("minatar")
pytest.importorskip("matplotlib")

from examples import minatar_game

# SB3's checker takes any 3-D box for an image meant for its NatureCNN: these warnings do not apply to MinAtarCNN,
# which reads 0/1 images of any dtype, channels last, down to 3x3 pixels
EXPECTED_WARNINGS = ("is an image but its `dtype`", "upper and lower bounds are not in [0, 255]", "minimal resolution")


@pytest.mark.parametrize("game", ["Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"])
def test_check_env(game):
    env = minatar_game.make_env(f"MinAtar/{game}-v1", max_episode_steps=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught if not any(text in str(w.message) for text in EXPECTED_WARNINGS)]
    assert not unexpected
    assert env.spec.max_episode_steps == 50  # REINFORCE reads how long an episode can take to complete here
    obs, _ = env.reset(seed=0)
    assert obs.shape[:2] == (10, 10) and obs.dtype == bool
    features = minatar_game.MinAtarCNN(env.observation_space)(th.as_tensor(obs[None]).float())
    assert features.shape == (1, 128)


def test_unknown_env_id():
    with pytest.raises(ValueError, match="unknown MinAtar env id"):
        minatar_game.make_env("MinAtar/Pong-v1")
    with pytest.raises(SystemExit):
        minatar_game.main(["--env-id", "CartPole-v1"])


def test_smoke(tmp_path):
    """The whole example on a tiny budget: both algorithms, the random policy, the table and the plot."""
    text = minatar_game.main(["--timesteps", "64", "--seeds", "0", "--eval-episodes", "2", "--output-dir", str(tmp_path)])
    assert os.path.getsize(tmp_path / "learning_curve.png") > 0
    assert (tmp_path / "results.md").read_text() == text
    for row in ("| REINFORCE | ", "| A2C | ", "| random policy | "):
        assert row in text


@pytest.mark.slow
def test_reinforce_learns_breakout():
    """
    60k env steps (about 10 s) take REINFORCE's evaluation return on Breakout (50 episodes) from the random policy's
    0.4 to 2.6, 2.4 and 2.3 with seeds 0, 1 and 2; with the weights of log pi sign-flipped the policy scores 0.0, with
    them zeroed or shuffled over the batch 0.3 to 0.5 (the same seeds).
    """
    env_kwargs = dict(env_id="MinAtar/Breakout-v1")
    env = make_vec_env(minatar_game.make_env, n_envs=minatar_game.N_ENVS, seed=0, env_kwargs=env_kwargs)
    model = minatar_game.make_model("REINFORCE", env, seed=0).learn(60_000)
    eval_env = make_vec_env(minatar_game.make_env, n_envs=1, seed=100, env_kwargs=env_kwargs)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=50, deterministic=False, return_episode_rewards=True)
    assert np.mean(returns) > 1.5

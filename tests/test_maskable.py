"""MaskableREINFORCE: invalid-action masking on sb3-contrib's maskable policies and buffers."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib.common.envs import InvalidActionEnvDiscrete, InvalidActionEnvMultiBinary, InvalidActionEnvMultiDiscrete
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from sb3_contrib.common.maskable.evaluation import evaluate_policy
from sb3_contrib.common.wrappers import ActionMasker
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv

from sb3_reinforce import MaskableREINFORCE

ENVS = {
    "Discrete": lambda: InvalidActionEnvDiscrete(dim=10, ep_length=20, n_invalid_actions=6),
    "MultiDiscrete": lambda: InvalidActionEnvMultiDiscrete(dims=[4, 4], ep_length=20, n_invalid_actions=4),
    "MultiBinary": lambda: InvalidActionEnvMultiBinary(dims=4, ep_length=20, n_invalid_actions=2),
}


def invalid(action: np.ndarray, mask: np.ndarray, action_space: spaces.Space) -> bool:
    """Whether an action (of one env) takes an outcome its mask forbids."""
    if isinstance(action_space, spaces.Discrete):
        return not mask[int(action)]
    if isinstance(action_space, spaces.MultiDiscrete):
        offsets = np.cumsum([0, *action_space.nvec[:-1]])
        return not mask[offsets + np.asarray(action)].all()
    return not mask[2 * np.arange(len(action)) + np.asarray(action)].all()  # MultiBinary: (off, on) per dim


class CheckActions(BaseCallback):
    """Count, at every training step, the actions that their env's mask (read before the step) forbids."""

    def __init__(self):
        super().__init__()
        self.n_invalid = self.n_actions = 0

    def _on_step(self) -> bool:
        masks = self.locals["extra"]["action_masks"]
        for action, mask in zip(self.locals["actions"], masks, strict=True):
            self.n_invalid += invalid(action, mask, self.model.action_space)
            self.n_actions += 1
        return True


@pytest.mark.parametrize("space", list(ENVS))
@pytest.mark.parametrize(
    "rollout_mode,baseline", [("discard", "value"), ("carry", "mean"), ("bootstrap", "value"), ("discard", "loo")]
)
def test_never_takes_invalid_actions(space, rollout_mode, baseline):
    env = make_vec_env(ENVS[space], n_envs=2, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=8, rollout_mode=rollout_mode, baseline=baseline, seed=0)
    check = CheckActions()
    model.learn(600, callback=check)
    assert check.n_actions >= 600 and check.n_invalid == 0
    # predict with masks never picks a masked action either, stochastic or not
    single = ENVS[space]()
    obs, _ = single.reset(seed=1)
    for step in range(40):
        mask = np.asarray(single.action_masks())
        action, _ = model.predict(obs, action_masks=mask, deterministic=step % 2 == 0)
        assert not invalid(action, mask, single.action_space)
        obs, *_ = single.step(action)


def test_masked_log_probabilities():
    """Masked actions get exactly zero probability, and their logits zero gradient."""
    env = make_vec_env(ENVS["Discrete"], n_envs=1, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, seed=0)
    captured = []
    model.policy.action_net.register_forward_hook(lambda module, inputs, output: captured.append(output))
    masks = th.ones(4, 10, dtype=th.bool)
    masks[:, 3:9] = False
    distribution = model.policy.get_distribution(th.arange(4), action_masks=masks)  # states 0..3
    logits = captured[-1]
    logits.retain_grad()
    probs = distribution.distribution.probs
    assert (probs[:, 3:9] == 0).all() and th.allclose(probs.sum(1), th.ones(4))
    (-distribution.log_prob(th.tensor([0, 1, 2, 9])).mean()).backward()
    # sb3-contrib masks the log-softmax of all logits, then normalizes again: the masked logits' gradient is zero
    # mathematically, and float32 rounding of the two normalizations leaves ~1e-9 of it
    valid_grad = logits.grad[:, [0, 1, 2, 9]].abs()
    assert (valid_grad > 1e-3).all()
    assert logits.grad[:, 3:9].abs().max() < 1e-6 * valid_grad.max()


def test_train_uses_the_masks():
    """The update's log-probabilities are those of the masked distribution (masks stored in the buffer)."""
    env = make_vec_env(ENVS["Discrete"], n_envs=2, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=8, seed=0)
    seen = []
    get_distribution = model.policy.get_distribution
    model.policy.get_distribution = lambda obs, action_masks=None: (
        seen.append(action_masks) or get_distribution(obs, action_masks)
    )
    evaluate_actions = model.policy.evaluate_actions
    model.policy.evaluate_actions = lambda obs, actions, action_masks=None: (
        seen.append(action_masks) or evaluate_actions(obs, actions, action_masks)
    )
    model.learn(200)
    # The update's forward pass runs on the whole rollout at once (more rows than the 2 envs that act at each step)
    batch_masks = [np.asarray(mask) for mask in seen if mask is not None and len(mask) > 2]
    assert batch_masks and all(mask.shape[1] == 10 and not mask.all() for mask in batch_masks)


@pytest.mark.parametrize("space,n_steps", [("Discrete", 5_000), ("MultiDiscrete", 8_000), ("MultiBinary", 8_000)])
def test_learns_far_above_random(space, n_steps):
    """20-step episodes, reward 1 per correct step: the untrained (near uniform) masked policy scores well below 10."""
    env = make_vec_env(ENVS[space], n_envs=4, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=16, gamma=0.0, learning_rate=3e-3, seed=0)
    eval_env = make_vec_env(ENVS[space], n_envs=1, seed=1)
    random_mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=False)
    model.learn(n_steps)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10)
    assert random_mean < 10 and mean >= 18, (random_mean, mean)


@pytest.mark.slow
def test_issue_scale_discrete_80_actions():
    """InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60), 4 envs: a random masked policy scores 5 of 100."""
    env = make_vec_env(lambda: InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60), n_envs=4, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=32, gamma=0.0, learning_rate=3e-3, seed=0)
    model.learn(100_000)
    eval_env = make_vec_env(lambda: InvalidActionEnvDiscrete(dim=80, n_invalid_actions=60), n_envs=1, seed=1)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10)
    assert mean >= 90


class NoMaskEnv(IdentityEnv):
    def __init__(self):
        super().__init__(dim=3, ep_length=5)


class AllMaskedEnv(IdentityEnv):
    def __init__(self):
        super().__init__(dim=3, ep_length=5)

    def action_masks(self):
        return [False, False, self.state == 1]  # no valid action unless the state is 1


def test_use_masking_without_action_masks():
    model = MaskableREINFORCE("MlpPolicy", make_vec_env(NoMaskEnv, n_envs=2), n_steps=4)
    with pytest.raises(ValueError, match="ActionMasker"):
        model.learn(50)
    model.learn(50, use_masking=False)  # fine without masking
    assert model.num_timesteps >= 50
    wrapped = make_vec_env(
        NoMaskEnv, n_envs=2, wrapper_class=ActionMasker, wrapper_kwargs=dict(action_mask_fn=lambda e: [1, 1, 0])
    )
    MaskableREINFORCE("MlpPolicy", wrapped, n_steps=4).learn(50)


def test_mask_that_allows_nothing_names_the_env():
    env = make_vec_env(AllMaskedEnv, n_envs=3, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=4, seed=0)
    with pytest.raises(ValueError, match=r"action mask of env \d allows no action"):
        model.learn(200)


def test_save_load_round_trip(tmp_path):
    env = make_vec_env(ENVS["MultiDiscrete"], n_envs=2, seed=0)
    model = MaskableREINFORCE("MlpPolicy", env, n_steps=8, baseline="mean", rollout_mode="carry", gamma=0.5, seed=0)
    model.learn(300, use_masking=True)
    model.save(tmp_path / "model")
    loaded = MaskableREINFORCE.load(tmp_path / "model")
    for key in ("n_steps", "baseline", "rollout_mode", "gamma", "use_masking", "normalize_advantage"):
        assert getattr(loaded, key) == getattr(model, key), key
    single = ENVS["MultiDiscrete"]()
    obs, _ = single.reset(seed=0)
    masks = np.asarray(single.action_masks())
    for a, b in zip(
        model.predict(obs, action_masks=masks, deterministic=True),
        loaded.predict(obs, action_masks=masks, deterministic=True),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    loaded.set_env(env)
    loaded.learn(100, reset_num_timesteps=False)


def test_maskable_eval_callback_and_dict_obs(tmp_path):
    class DictMaskEnv(gym.Wrapper):
        def __init__(self):
            super().__init__(ENVS["Discrete"]())
            self.observation_space = spaces.Dict({"obs": self.env.observation_space})

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            return {"obs": obs}, info

        def step(self, action):
            obs, *rest = self.env.step(action)
            return {"obs": obs}, *rest

        def action_masks(self):
            return self.env.action_masks()

    env = make_vec_env(DictMaskEnv, n_envs=2, seed=0)
    callback = MaskableEvalCallback(
        make_vec_env(DictMaskEnv, n_envs=1), eval_freq=50, n_eval_episodes=2, log_path=str(tmp_path)
    )
    model = MaskableREINFORCE("MultiInputPolicy", env, n_steps=8, seed=0)
    model.learn(300, callback=callback)
    assert (tmp_path / "evaluations.npz").exists() and callback.n_calls >= 150
    assert model.logger.name_to_value["train/batch_size"] > 0

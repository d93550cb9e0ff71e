"""The RL Zoo launcher: rl_zoo3's train, enjoy and -optimize with REINFORCE and MaskableREINFORCE registered."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("rl_zoo3")

ROOT = os.path.join(os.path.dirname(__file__), "..")


def zoo_command(tmp_path, *args: str) -> list[str]:
    return [sys.executable, "-m", "sb3_reinforce.zoo", *args, "-f", str(tmp_path / "logs"), "--num-threads", "1"]


def zoo(tmp_path, *args: str) -> str:
    result = subprocess.run(zoo_command(tmp_path, *args), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


# MountainCarContinuous: VecNormalize and gSDE; Hopper (the mujoco extra): VecNormalize and rollout_mode="bootstrap"
@pytest.mark.parametrize("env_id", ["CartPole-v1", "MountainCarContinuous-v0", "Hopper-v5"])
def test_train_then_enjoy(tmp_path, env_id):
    if env_id == "Hopper-v5":
        pytest.importorskip("mujoco")
    conf = os.path.join(ROOT, "zoo_configs", "reinforce.yml")
    zoo(tmp_path, "train", "--algo", "reinforce", "--env", env_id, "--conf-file", conf, "-n", "2000", "--seed", "0")
    run = tmp_path / "logs" / "reinforce" / f"{env_id}_1"
    assert (run / f"{env_id}.zip").exists()
    assert "baseline" in (run / env_id / "config.yml").read_text()  # the zoo config's keys reached the model
    normalized = env_id != "CartPole-v1"
    assert (run / env_id / "vecnormalize.pkl").exists() == normalized
    out = zoo(tmp_path, "enjoy", "--algo", "reinforce", "--env", env_id, "--no-render", "-n", "1100")  # > 1 episode
    assert "Mean reward" in out
    assert ("Loading running average" in out) == normalized


def test_optimize_two_trials_shared_storage(tmp_path):
    args = ["train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "1000", "-optimize", "--n-trials", "2"]
    args += ["--sampler", "random", "--pruner", "none", "--n-evaluations", "1", "--eval-episodes", "2"]
    args += ["--storage", str(tmp_path / "study.log"), "--study-name", "test"]
    # Two workers at once share the study through the journal file
    workers = [subprocess.Popen(zoo_command(tmp_path, *args), cwd=tmp_path, stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0]
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))
    trials = optuna.load_study(study_name="test", storage=storage).trials
    assert len(trials) == 4 and all(trial.state.name == "COMPLETE" for trial in trials)
    assert {"baseline", "n_steps", "learning_rate"} <= set(trials[0].params)


def test_reinforce_mask_registered(tmp_path):
    conf = os.path.join(ROOT, "zoo_configs", "reinforce_mask.yml")
    args = ["train", "--algo", "reinforce_mask", "--env", "InvalidActionDiscrete-v0", "--conf-file", conf, "-n", "1000"]
    zoo(tmp_path, *args)
    assert (tmp_path / "logs" / "reinforce_mask" / "InvalidActionDiscrete-v0_1" / "InvalidActionDiscrete-v0.zip").exists()


@pytest.mark.parametrize("flag", ["--conf-file", "-conf", "--conf-file="])
def test_train_missing_conf_file(tmp_path, flag):
    """One line of error, as argparse reports a bad argument, instead of rl_zoo3's FileNotFoundError traceback."""
    conf = ["--conf-file=missing.yml"] if flag.endswith("=") else [flag, "missing.yml"]
    command = zoo_command(tmp_path, "train", "--algo", "reinforce", "--env", "CartPole-v1", *conf)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "missing.yml" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "logs").exists()


def test_default_conf_file_from_another_directory(tmp_path):
    """``train --algo reinforce`` without --conf-file reads the project's configs wherever it is started."""
    probe = "from sb3_reinforce.zoo import _default_conf_file; print(*_default_conf_file(['train', '--algo', 'reinforce']))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    flag, path = result.stdout.split()
    assert flag == "--conf-file" and os.path.samefile(path, os.path.join(ROOT, "zoo_configs", "reinforce.yml"))


def test_unknown_command():
    result = subprocess.run([sys.executable, "-m", "sb3_reinforce.zoo", "fly"], capture_output=True, text=True)
    assert result.returncode != 0 and "usage" in result.stderr

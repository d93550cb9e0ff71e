"""The RL Zoo launcher: rl_zoo3's train, enjoy and -optimize with REINFORCE and MaskableREINFORCE registered."""

import argparse
import os
import shutil
import subprocess
import sys

import pytest
import yaml

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


# Spellings of -conf/--conf-file that rl_zoo3's argparse parser accepts: its names, NAME=X, and prefixes that
# allow_abbrev matches
CONF_SPELLINGS = ["-conf", "--conf-file=", "-c", "--conf"]


def conf_args(spelling: str, path: str) -> list[str]:
    return [f"{spelling}{path}"] if spelling.endswith("=") else [spelling, path]


def recorded_conf_file(tmp_path, env_id: str = "CartPole-v1") -> str:
    """The conf_file of the run's args.yml (rl_zoo3 records the parsed arguments there, as a Python OrderedDict)."""
    args_yml = (tmp_path / "logs" / "reinforce" / f"{env_id}_1" / env_id / "args.yml").read_text()
    return yaml.load(args_yml, Loader=yaml.UnsafeLoader)["conf_file"]


@pytest.mark.parametrize("spelling", CONF_SPELLINGS)
def test_train_conf_file_spellings(tmp_path, spelling):
    """The launcher gives rl_zoo3 the conf file in any spelling, instead of overriding it with its default."""
    conf = tmp_path / "my.yml"
    shutil.copy(os.path.join(ROOT, "zoo_configs", "reinforce.yml"), conf)
    zoo(tmp_path, "train", "--algo", "reinforce", "--env", "CartPole-v1", *conf_args(spelling, str(conf)), "-n", "200")
    assert recorded_conf_file(tmp_path) == str(conf)


@pytest.mark.parametrize("algo", [["--algo=reinforce"], ["--alg", "reinforce"]])
def test_train_default_conf_file_algo_spellings(tmp_path, algo):
    """Without --conf-file, the project's zoo_configs/<algo>.yml, --algo spelled otherwise (plainly: test_record_training)."""
    zoo(tmp_path, "train", *algo, "--env", "CartPole-v1", "-n", "200")
    assert os.path.samefile(recorded_conf_file(tmp_path), os.path.join(ROOT, "zoo_configs", "reinforce.yml"))


@pytest.mark.parametrize("spelling", ["--conf-file", *CONF_SPELLINGS])
def test_train_missing_conf_file(tmp_path, spelling):
    """One line of error, as argparse reports a bad argument, instead of rl_zoo3's FileNotFoundError traceback."""
    command = zoo_command(
        tmp_path, "train", "--algo", "reinforce", "--env", "CartPole-v1", *conf_args(spelling, "missing.yml")
    )
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["python -m sb3_reinforce.zoo train: error: --conf-file missing.yml: no such file"], (
        result.stderr[-3000:]
    )
    assert not (tmp_path / "logs").exists()


def test_default_conf_file_from_another_directory(tmp_path):
    """``train --algo reinforce`` without --conf-file reads the project's configs wherever it is started."""
    probe = "from sb3_reinforce.zoo import default_conf_file; print(default_conf_file('reinforce'))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert os.path.samefile(result.stdout.strip(), os.path.join(ROOT, "zoo_configs", "reinforce.yml"))


def test_complete_train_args_database_storage(tmp_path):
    """A --storage database URL, read from the parsed arguments (any spelling), gets Optuna's tables before rl_zoo3 runs."""
    import sqlalchemy

    from sb3_reinforce.zoo import _complete_train_args

    url = f"sqlite:///{tmp_path / 'study.db'}"
    args = _complete_train_args(argparse.Namespace(algo="ppo", conf_file=None, storage=url), "train")
    assert args.conf_file is None  # rl_zoo3's own hyperparams/ppo.yml
    assert "studies" in sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names()
    other = argparse.Namespace(algo="reinforce")  # another command's arguments (no conf_file): left as they are
    assert _complete_train_args(other, "enjoy") == argparse.Namespace(algo="reinforce")


def test_spawned_rl_zoo3_command_runs_through_the_launcher():
    """
    While a command runs, an rl_zoo3 command it starts runs through the launcher, with this interpreter whatever
    program it names: there, too, ``--algo`` offers our algorithms. Other programs start as they are.
    """
    from sb3_reinforce.zoo import _launcher_hooks

    popen = subprocess.Popen
    with _launcher_hooks("record_training"):
        command = ["no-such-python", "-m", "rl_zoo3.record_video", "--help"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "reinforce_mask" in result.stdout
        assert subprocess.check_output([sys.executable, "-c", "import sys; print(sys.argv)", "-m", "rl_zoo3.train"]) == (
            b"['-c', '-m', 'rl_zoo3.train']\n"
        )
    assert subprocess.Popen is popen


@pytest.mark.parametrize("algo, env_id", [("reinforce", "CartPole-v1"), ("reinforce_mask", "InvalidActionDiscrete-v0")])
def test_record_training(tmp_path, algo, env_id):
    """
    ``record_training`` starts ``python -m rl_zoo3.record_video`` once per saved model, then joins the videos with
    ``ffmpeg`` (from the PATH: here the binary that imageio-ffmpeg, a dependency of rl_zoo3's, ships).
    """
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    (tmp_path / "bin").mkdir()
    os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "bin" / "ffmpeg")
    # "python" on the PATH is this interpreter, as in an activated virtual environment (without the launcher's
    # redirection, a record_video that does not know our algorithms)
    path = os.pathsep.join([str(tmp_path / "bin"), os.path.dirname(sys.executable), os.environ["PATH"]])
    zoo(tmp_path, "train", "--algo", algo, "--env", env_id, "-n", "1000", "--save-freq", "1000")  # (the default conf file)
    videos = tmp_path / "videos"  # (an absolute path: rl_zoo3's ffmpeg concat list reads relative ones from videos/)
    command = [sys.executable, "-m", "sb3_reinforce.zoo", "record_training", "--algo", algo, "--env", env_id]
    command += ["-f", str(tmp_path / "logs"), "-n", "50", "--gif", "-o", str(videos)]
    env = {**os.environ, "PATH": path}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    recorded = sorted(name.split(f"-{algo}-")[0] for name in os.listdir(videos))
    assert recorded == ["checkpoint-1000", "final-model", "training.gif", "training.mp4"]


def test_unknown_command():
    result = subprocess.run([sys.executable, "-m", "sb3_reinforce.zoo", "fly"], capture_output=True, text=True)
    assert result.returncode != 0 and "usage" in result.stderr

"""The built wheel: it carries the tuned zoo configs, and an install of it finds them from any directory."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
# What the wheel is built from (the checkout's other files stay out of it)
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "sb3_reinforce", "zoo_configs"]

# Run in the wheel install: where the launcher's default --conf-file is, and the CartPole-v1 entry read from it
PROBE = """
import sb3_reinforce, yaml
from sb3_reinforce.zoo import ZOO_CONFIGS, default_conf_file
conf = default_conf_file("reinforce")
with open(conf) as file:
    print(sb3_reinforce.__file__, ZOO_CONFIGS, conf, yaml.safe_load(file)["CartPole-v1"]["n_envs"], sep="\\n")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """The wheel built from a copy of the sources (no build files left in the checkout), as ``pip wheel`` builds it."""
    tmp = tmp_path_factory.mktemp("wheel")
    (tmp / "src").mkdir()
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, tmp / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, tmp / "src" / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")]
    subprocess.run([*command, str(tmp / "src")], check=True, capture_output=True, timeout=120)
    (path,) = (tmp / "dist").glob("sb3_reinforce-*.whl")
    return str(path)


def test_wheel_contains_zoo_configs_and_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    configs = sorted(name for name in names if name.startswith("sb3_reinforce/zoo_configs/"))
    assert configs == [f"sb3_reinforce/zoo_configs/{name}" for name in sorted(os.listdir(os.path.join(ROOT, "zoo_configs")))]
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    for name in configs:  # the same files, not copies that could drift
        with open(os.path.join(ROOT, "zoo_configs", os.path.basename(name)), "rb") as file:
            assert zipfile.ZipFile(wheel).read(name) == file.read()


def test_wheel_install_finds_zoo_configs_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(site), wheel]
    subprocess.run(pip, check=True, capture_output=True, timeout=120)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed wheel, not the checkout
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=run_dir, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    module, zoo_configs, conf, n_envs = result.stdout.splitlines()[-4:]
    packaged = site / "sb3_reinforce" / "zoo_configs"
    assert module == str(site / "sb3_reinforce" / "__init__.py")
    assert zoo_configs == str(packaged) and os.path.isdir(zoo_configs)
    assert conf == str(packaged / "reinforce.yml")
    assert int(n_envs) >= 1

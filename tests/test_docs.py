"""
The documentation cannot drift from the code: every Python block of the docs (the ```python fences of docs/**/*.md)
and of README.md runs here, the "Can I use?" tables of the algorithm pages are checked against the code, and the
README's links lead to files that exist.

Budgets: the blocks show the budgets a user would run (``learn(100_000)``). The ``capped_learn`` fixture caps every
``learn()`` at ``MAX_TIMESTEPS`` env steps (it wraps ``OnPolicyAlgorithm.learn``, which REINFORCE, MaskableREINFORCE,
A2C and PPO all reach), so this test checks that each block runs, not what it learns; docs/guide/quickstart.md says so.
A block that cannot run here (shell commands, program output, config files) names another language (```bash,
```text, ```yaml); a fence without a language fails ``test_every_fence_names_its_language``, so no block is left out
without saying so.
"""

import dataclasses
import os
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from sb3_reinforce import REINFORCE, MaskableREINFORCE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
# Every learn() of a block runs at most this many env steps (then to the end of its last rollout, as learn() does)
MAX_TIMESTEPS = 2_000

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


@dataclasses.dataclass
class Block:
    path: str  # relative to the repository root
    line: int  # of the opening fence, from 1
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path}:{self.line}"


def markdown_files() -> list[str]:
    """README.md and the pages of the site (docs/**/*.md, not the build output)."""
    paths = [os.path.join(ROOT, "README.md")]
    for directory, subdirectories, files in os.walk(DOCS):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("_"))
        paths += [os.path.join(directory, name) for name in sorted(files) if name.endswith(".md")]
    return paths


def fenced_blocks(path: str) -> list[Block]:
    """The fenced code blocks of a Markdown file (CommonMark fences, also inside lists and MyST directives)."""
    with open(path, encoding="utf-8") as file:
        lines = file.read().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence, start = len(opening["indent"]), opening["fence"], index
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while index < len(lines) and not closing.match(lines[index]):
            index += 1
        code = "\n".join(_dedent(line, indent) for line in lines[start:index])
        blocks.append(Block(os.path.relpath(path, ROOT), start, opening["info"], code + "\n"))
        index += 1  # past the closing fence
    return blocks


def _dedent(line: str, indent: int) -> str:
    """A line of a block whose fence is indented by ``indent`` (in a list item), without that indentation."""
    return line[indent:] if line[:indent].isspace() or not line[:indent] else line.lstrip()


ALL_BLOCKS = [block for path in markdown_files() for block in fenced_blocks(path)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.language == "python"]


@pytest.fixture
def capped_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap every ``learn()`` at ``MAX_TIMESTEPS`` env steps (the docs' blocks keep the budgets they show)."""
    learn = OnPolicyAlgorithm.learn

    def capped(self: OnPolicyAlgorithm, total_timesteps: int, *args: Any, **kwargs: Any) -> OnPolicyAlgorithm:
        return learn(self, min(total_timesteps, MAX_TIMESTEPS), *args, **kwargs)

    monkeypatch.setattr(OnPolicyAlgorithm, "learn", capped)


def test_the_docs_have_python_blocks() -> None:
    names = {block.path for block in PYTHON_BLOCKS}
    assert "README.md" in names
    assert os.path.join("docs", "modules", "reinforce.md") in names
    assert len(PYTHON_BLOCKS) >= 10


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.name for block in PYTHON_BLOCKS])
def test_python_block_runs(
    block: Block, capped_learn: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Each block runs on its own, as a script would, in an empty directory (for the files it saves)."""
    monkeypatch.chdir(tmp_path)
    code = compile(block.code, block.name, "exec")
    exec(code, {"__name__": "__main__"})


def test_every_fence_names_its_language() -> None:
    """A fence without a language would be neither run as Python nor marked as something else."""
    unnamed = [block.name for block in ALL_BLOCKS if not block.language]
    assert not unnamed, f"fences without a language (```python runs here, ```bash or ```text does not): {unnamed}"


def can_i_use_table(page: str) -> dict[str, tuple[bool, bool]]:
    """The "Can I use?" table of an algorithm page: space name -> (action supported, observation supported)."""
    with open(os.path.join(DOCS, "modules", page), encoding="utf-8") as file:
        text = file.read()
    section = text.split("## Can I use?", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\|\s*(\w+)\s*\|\s*(\S+)\s*\|\s*(\S+)\s*\|\s*$", section, flags=re.MULTILINE):
        name, action, observation = row
        if name != "Space":
            table[name] = (action == "✔️", observation == "✔️")
    assert set(table) == {"Discrete", "Box", "MultiDiscrete", "MultiBinary", "Dict"}, section
    return table


class SpacesEnv(gym.Env):
    """Episodes of 4 steps with a given observation space, Discrete(2) actions and an all-True action mask."""

    def __init__(self, observation_space: spaces.Space):
        self.observation_space = observation_space
        self.action_space = spaces.Discrete(2)
        self.observation_space.seed(0)
        self.n_steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.n_steps = 0
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.n_steps += 1
        return self.observation_space.sample(), float(action), self.n_steps >= 4, False, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(2, dtype=bool)


OBSERVATION_SPACES = {
    "Discrete": spaces.Discrete(3),
    "Box": spaces.Box(-1.0, 1.0, (3,), dtype=np.float32),
    "MultiDiscrete": spaces.MultiDiscrete([2, 3]),
    "MultiBinary": spaces.MultiBinary(3),
    "Dict": spaces.Dict({"position": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32), "mode": spaces.Discrete(2)}),
}


@pytest.mark.parametrize("algorithm, page", [(REINFORCE, "reinforce.md"), (MaskableREINFORCE, "maskable.md")])
def test_can_i_use_tables_are_true(algorithm: type[REINFORCE], page: str) -> None:
    """The Action column is the class's supported_action_spaces; every observation marked supported trains."""
    table = can_i_use_table(page)
    for name, (action, observation) in table.items():
        assert action == (getattr(spaces, name) in algorithm.supported_action_spaces), f"{page}: {name} actions"
        if observation:
            policy = "MultiInputPolicy" if name == "Dict" else "MlpPolicy"
            algorithm(policy, SpacesEnv(OBSERVATION_SPACES[name]), n_steps=4, seed=0).learn(8)


def test_readme_keeps_the_two_set_up_commands() -> None:
    """CI runs the README's test command; the main job is the README's other one."""
    blocks = [block.code for block in ALL_BLOCKS if block.path == "README.md" and block.language == "bash"]
    commands = [line.split("#")[0].strip() for code in blocks for line in code.splitlines()]
    assert "make train" in commands
    assert "make test" in commands


def test_readme_links_lead_to_files() -> None:
    """The README is read on its own (GitHub, the package index): its links into the repository must exist."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as file:
        targets = re.findall(r"\]\(([^)\s]+)\)", file.read())
    local = [target.split("#")[0] for target in targets if "://" not in target]
    assert local
    missing = [target for target in local if not os.path.exists(os.path.join(ROOT, target))]
    assert not missing, missing


def test_readme_fine_tuning_figures_come_from_the_reports() -> None:
    """The README quotes the fine-tuning benchmarks: every figure it prints there is in a report generated from the CSVs."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as file:
        section = file.read().split("## Fine-tuning a pretrained policy")[1].split("\n## ")[0]
    measured = section.split("What `benchmarks/fine_tuning.py` measured")[1]
    figures = re.findall(r"\d+\.\d+", measured)
    reports = ""
    for name in ("groups", "cloned", "text"):
        with open(os.path.join(ROOT, "benchmarks", "results", f"fine_tuning_{name}.md"), encoding="utf-8") as file:
            reports += file.read()
    assert len(figures) >= 10
    missing = [figure for figure in figures if figure not in reports]
    assert not missing, f"README figures not in benchmarks/results/fine_tuning_*.md: {missing}"

import os

from sb3_reinforce.groups import SharedStarts, make_grouped_vec_env
from sb3_reinforce.maskable import MaskableREINFORCE
from sb3_reinforce.pretrain import collect_demonstrations, pretrain_policy
from sb3_reinforce.reinforce import REINFORCE

# Read version from file
version_file = os.path.join(os.path.dirname(__file__), "version.txt")
with open(version_file) as file_handler:
    __version__ = file_handler.read().strip()

__all__ = [
    "REINFORCE",
    "MaskableREINFORCE",
    "SharedStarts",
    "__version__",
    "collect_demonstrations",
    "make_grouped_vec_env",
    "pretrain_policy",
]

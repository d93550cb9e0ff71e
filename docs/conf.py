"""Sphinx configuration of the sb3-reinforce documentation (``make doc``: HTML in docs/_build/html)."""

import os
import sys

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)  # the package, importable from a checkout that is not installed

with open(os.path.join(ROOT, "sb3_reinforce", "version.txt")) as file_handler:
    __version__ = file_handler.read().strip()

# -- Project information -----------------------------------------------------
project = "sb3-reinforce"
copyright = "sb3-reinforce contributors (MIT license)"
author = "sb3-reinforce contributors"
version = __version__
release = __version__

# -- General configuration ---------------------------------------------------
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "sphinx_rtd_theme",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
language = "en"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
# Indented blocks (formulas, commands) are shown as they are; fenced blocks name their language
highlight_language = "text"

# MyST: ``:::{note}`` blocks, GitHub-style anchors for the headings of every page (``[below](#the-value-fit)``)
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 4

# Report every reference that does not resolve (-n), the MyST links and anchors included. Names of the libraries
# the package builds on (torch, numpy, gymnasium, SB3, sb3-contrib) cannot resolve without their inventories, which
# this offline build does not fetch; the package's own names must resolve.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(th|torch|np|numpy|gym|gymnasium|spaces|stable_baselines3|sb3_contrib|io|os|pathlib|typing|collections)\..*"),
    (r"py:.*", r"(GymEnv|Schedule|MaybeCallback|BaseCallback|VecEnv|RolloutBuffer|DictRolloutBuffer|BasePolicy)"),
    # the TypeVars of the methods that return their model (``learn() -> SelfREINFORCE``)
    (r"py:class", r"(sb3_reinforce\.\w+\.)?Self\w+"),
]

# -- autodoc: SB3's ``:param name:`` docstrings, signatures with their type hints ------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False

# -- HTML output -------------------------------------------------------------
html_theme = "sphinx_rtd_theme"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = f"sb3-reinforce {__version__}"
html_show_sourcelink = False

# sphinx-copybutton: leave prompts and output out of what is copied
copybutton_prompt_text = r"\$ |>>> "
copybutton_prompt_is_regexp = True


class RepositoryLinks(SphinxTransform):
    """
    Links from a page to a Markdown file of the repository outside ``docs/`` (``../benchmarks/README.md``) keep the path
    that works on GitHub; on the site they become downloads of that file, as MyST makes links to the other files. A link
    to a file that does not exist is still reported.
    """

    default_priority = 100

    def apply(self, **kwargs: object) -> None:
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
                continue
            path = node["reftarget"] + ".md"  # MyST names a Markdown file outside docs/ by its absolute path
            if not os.path.isabs(path) or not os.path.isfile(path) or not path.startswith(ROOT + os.sep):
                continue
            relative = os.path.relpath(path, os.path.join(self.env.srcdir, os.path.dirname(self.env.docname)))
            download = addnodes.download_reference(
                refdomain=None, reftarget=relative, refdoc=self.env.docname, reftype="myst", refexplicit=True
            )
            download.extend(child.deepcopy() for child in node.children)
            node.replace_self(download)


def setup(app: Sphinx) -> None:
    app.add_transform(RepositoryLinks)

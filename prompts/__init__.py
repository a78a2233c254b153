"""The prompts, shipped inside the package (``prompts/*.txt`` is package data), and their one loader.

Prompts are ``string.Template`` texts (``$name`` placeholders); callers substitute them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template


def prompt_path(name: str) -> Path:
    """Where the prompt file ``name`` (e.g. ``"intent_router.txt"``) is installed."""
    return Path(str(resources.files(__name__).joinpath(name)))


def load_prompt(name: str) -> Template:
    """The prompt ``name`` as a Template; raises FileNotFoundError for an unknown prompt."""
    return Template(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))

"""Small helpers shared by sub-commands."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    """The timeline actor for something done from the shell: the local OS user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"

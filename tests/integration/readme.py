"""README.md read as a user reads it: its sections, their code blocks, their Meltano commands.

The tests that run Meltano "as the README types it" take the commands from here, so a command
edited in the README is the command tested, and a new one no test runs fails the guard in
``test_readme_meltano.py``.
"""

from __future__ import annotations

import re
import shlex
import textwrap

import yaml

from .conftest import REPO

README = REPO / "README.md"
#: Sections whose code blocks hold Meltano commands, each run by one test.
AFTER_THE_DEMO = "After the demo: Meltano's commands on the sandbox"
REAL_INSTANCE = "Using it with a real Marketo instance"
MODELLING = "Modelling: snake_case columns and Fivetran's dbt_marketo"


def sections() -> dict[str, str]:
    """Heading (## or ###, without the hashes) -> the text up to the next heading."""
    parts = re.split(r"^#{2,3} (.+)$", README.read_text(), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def code_blocks(section: str, language: str) -> list[str]:
    """The section's fenced code blocks in this language, dedented (list items indent them)."""
    blocks = re.findall(rf"^( *)```{language}\n(.*?)^\1```", sections()[section], flags=re.M | re.S)
    return [textwrap.dedent(body) for _indent, body in blocks]


def shell_lines(section: str) -> list[str]:
    """Every command line of the section's bash blocks, comments removed."""
    lines = []
    for block in code_blocks(section, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(shlex.join(words))
    return lines


def meltano_commands(section: str) -> list[list[str]]:
    """The section's ``meltano ...`` commands, as argument lists without ``meltano``."""
    return [shlex.split(line)[1:] for line in shell_lines(section) if line.split()[0] == "meltano"]


def sections_with_meltano_commands() -> set[str]:
    return {title for title in sections() if meltano_commands(title)}


def yaml_block(section: str, containing: str) -> dict:
    """The section's one YAML block that contains ``containing``, parsed."""
    (block,) = [block for block in code_blocks(section, "yaml") if containing in block]
    return yaml.safe_load(block)

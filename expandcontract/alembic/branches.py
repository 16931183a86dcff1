"""Expand/contract branches in an Alembic history, the way OpenStack lays them out.

Two branches fork from one revision: ``expand`` (run with ``alembic upgrade expand@head``
before the new app version is deployed) and ``contract`` (``alembic upgrade contract@head``
after it). Each change is a pair: an expand revision appended to ``expand@head`` and a contract
revision appended to ``contract@head`` that ``depends_on`` it, so a contract can never run before
its expand (Alembic pulls the dependency in). Only the first revision of each branch carries the
branch label; Alembic gives the label to every later revision of the branch.
"""

from __future__ import annotations

import os
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import util as alembic_util
from alembic.script import Script, ScriptDirectory

from expandcontract.errors import ConfigError, ECError

if TYPE_CHECKING:
    from alembic.config import Config

EXPAND = "expand"
CONTRACT = "contract"
PHASES = (EXPAND, CONTRACT)

# Bodies for script.py.mako's ``upgrades`` / ``downgrades`` (the generic, async and pyproject
# templates use them; a template without them simply renders its own body). Comments plus
# ``pass``: the new revision imports and runs as it is, and says what belongs in it.
_EXPAND_UPGRADE = """\
# Expand: runs with `alembic upgrade expand@head` BEFORE the new app version is deployed,
# while the old version still runs: additive, backward-compatible changes only
# (ec lint reports drops, renames and type changes here). For example:
# op.expand_contract([
#     {"add_column": {"table": "users",
#                     "column": {"name": "status", "type": "text"}}},
# ])
pass"""
_EXPAND_DOWNGRADE = """\
# op.expand_contract_rollback()  # undoes what op.expand_contract() expanded
pass"""
_CONTRACT_UPGRADE = """\
# Contract: runs with `alembic upgrade contract@head` AFTER every app instance runs the new
# version; this is where what only the old version used may go. For example:
# op.expand_contract_complete()
pass"""
_BODIES = {
    EXPAND: (_EXPAND_UPGRADE, _EXPAND_DOWNGRADE),
    CONTRACT: (_CONTRACT_UPGRADE, "pass"),
}


@dataclass(frozen=True)
class RevisionPair:
    expand: Script
    contract: Script
    created_branches: tuple[str, ...]  # the branch labels this call introduced


def load_config(config_path: str | None, section: str = "alembic") -> Config:
    """The Alembic configuration as the ``alembic`` command would read it from the current
    folder: alembic.ini and/or ``[tool.alembic]`` in pyproject.toml, or the file given."""
    from alembic.config import Config

    ini, toml = "alembic.ini", "pyproject.toml"
    if config_path is not None:
        if not Path(config_path).is_file():
            raise ConfigError(
                f"no Alembic configuration at {config_path}",
                "give the project's alembic.ini (or pyproject.toml) with --config",
            )
        if os.path.basename(config_path) == "pyproject.toml":
            toml = config_path
        else:
            ini = config_path
    if not Path(ini).is_file() and not Path(toml).is_file():
        raise ConfigError(
            "no alembic.ini or pyproject.toml in the current folder",
            "run from the Alembic project's folder or pass --config path/to/alembic.ini",
        )
    return Config(
        file_=ini if Path(ini).is_file() else None,
        toml_file=toml if Path(toml).is_file() else None,
        ini_section=section,
        # ec prints the new files itself (and --json must be the only output)
        cmd_opts=Namespace(quiet=True),
    )


def _own_labels(script: Script) -> tuple[str, ...]:
    """The labels written in the revision file itself (``Script.branch_labels`` also holds
    those Alembic propagated from other revisions of the branch)."""
    labels = getattr(script.module, "branch_labels", None)
    return tuple(alembic_util.to_tuple(labels, default=()))


def _labelled(scripts: ScriptDirectory) -> dict[str, Script]:
    """phase -> the revision carrying that branch label."""
    found: dict[str, Script] = {}
    for script in scripts.walk_revisions("base", "heads"):
        for label in _own_labels(script):
            if label in PHASES:
                found[label] = script
    return found


def _fork_point(scripts: ScriptDirectory, labelled: dict[str, Script]) -> str | tuple[str, ...]:
    """Where a missing branch starts: where the existing one started, else the single head."""
    for script in labelled.values():
        parent = script.down_revision
        if parent is None:
            return "base"
        return parent if isinstance(parent, str) else tuple(parent)
    heads = scripts.get_heads()
    if len(heads) > 1:
        raise ECError(
            f"the Alembic history has {len(heads)} heads ({', '.join(sorted(heads))}): "
            "the expand and contract branches must start from one revision",
            "merge them first (alembic merge heads -m merge), then run ec alembic revision",
        )
    return heads[0] if heads else "base"


def _version_path(scripts: ScriptDirectory, phase: str) -> str | None:
    """A version location named after the phase (``versions/expand``) when the project keeps
    the branches in folders of their own; otherwise Alembic's choice."""
    for location in scripts.version_locations or ():
        if Path(location).name == phase:
            return str(location)
    return None


def _generate(
    scripts: ScriptDirectory,
    phase: str,
    message: str,
    *,
    labelled: dict[str, Script],
    fork: str | tuple[str, ...],
    depends_on: str | None = None,
) -> Script:
    upgrades, downgrades = _BODIES[phase]
    first = phase not in labelled
    try:
        script = scripts.generate_revision(
            alembic_util.rev_id(),
            f"{phase}: {message}",
            head=fork if first else f"{phase}@head",
            splice=first,  # the fork point is usually no longer a head
            branch_labels=phase if first else None,
            version_path=_version_path(scripts, phase),
            depends_on=depends_on,
            upgrades=upgrades.replace("\n", "\n    "),
            downgrades=downgrades.replace("\n", "\n    "),
        )
    except alembic_util.CommandError as exc:
        raise ECError(
            f"Alembic could not create the {phase} revision: {exc}",
            f"check that `alembic heads` shows one head for the {phase} branch",
        ) from exc
    if script is None:  # a file_template that does not end in .py
        raise ECError(
            f"Alembic wrote the {phase} revision to a file it cannot load back",
            "check file_template in alembic.ini",
        )
    return script


def create_pair(config: Config, message: str) -> RevisionPair:
    """Append an expand revision to ``expand@head`` and a contract revision depending on it to
    ``contract@head``; on first use, both branches are created (labelled) from the current
    head."""
    if not message.strip():
        raise ConfigError("the revision message is empty", 'give one with -m "add status"')
    try:
        scripts = ScriptDirectory.from_config(config)
        labelled = _labelled(scripts)
    except alembic_util.CommandError as exc:
        raise ConfigError(f"cannot read the Alembic project: {exc}") from exc
    fork = _fork_point(scripts, labelled) if len(labelled) < len(PHASES) else "base"
    expand = _generate(scripts, EXPAND, message, labelled=labelled, fork=fork)
    contract = _generate(
        scripts, CONTRACT, message, labelled=labelled, fork=fork, depends_on=expand.revision
    )
    created = tuple(phase for phase in PHASES if phase not in labelled)
    return RevisionPair(expand, contract, created)

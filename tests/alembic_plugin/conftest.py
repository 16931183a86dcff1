"""Fresh ``alembic init`` projects on a throwaway database, driven through Alembic itself:
``project.command(...)`` calls ``alembic.command`` in-process, ``project.cli(...)`` runs the
``alembic`` executable in a subprocess (entry points and all, as a user would)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config

from expandcontract.dsn import to_sqlalchemy
from expandcontract.pytest_plugin import EcDatabase

ALEMBIC = str(Path(sys.executable).with_name("alembic"))


class AlembicProject:
    def __init__(self, root: Path, db: EcDatabase, template: str = "generic") -> None:
        self.root = root
        self.db = db
        self.dir = root / "alembic"
        command.init(Config(str(root / "alembic.ini")), str(self.dir), template=template)
        ini = root / "alembic.ini"
        text = ini.read_text()
        # configparser interpolates %: a URL's percent-escapes must be doubled.
        url = to_sqlalchemy(db.url).replace("%", "%%")
        ini.write_text(
            text.replace("driver://user:pass@localhost/dbname", url).replace(
                "script_location = %(here)s/alembic", "script_location = %(here)s/alembic"
            )
        )
        self.versions = self.dir / "versions"

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    def set_option(self, key: str, value: str) -> None:
        """Add ``key = value`` to the ``[alembic]`` section of alembic.ini."""
        text = self.ini.read_text()
        self.ini.write_text(text.replace("[alembic]\n", f"[alembic]\n{key} = {value}\n", 1))

    def config(self, *, output: StringIO | None = None) -> Config:
        cfg = Config(str(self.ini), output_buffer=output)
        cfg.set_main_option("script_location", str(self.dir))
        return cfg

    def write_revision(
        self,
        rev: str,
        down: str | None,
        upgrade: str,
        downgrade: str = "pass",
        *,
        branch_labels: tuple[str, ...] | None = None,
        depends_on: str | None = None,
        header: str = "",
    ) -> Path:
        """A revision file ``<rev>.py`` whose ``upgrade()``/``downgrade()`` bodies are given
        (dedented); ``header`` is module-level code after the imports."""
        body = textwrap.dedent(
            f'''\
            """{rev}"""
            import sqlalchemy as sa
            from alembic import op

            revision = {rev!r}
            down_revision = {down!r}
            branch_labels = {branch_labels!r}
            depends_on = {depends_on!r}
            '''
        )
        body += textwrap.dedent(header) + "\n"
        body += "def upgrade():\n" + textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
        body += "\n\n\ndef downgrade():\n"
        body += textwrap.indent(textwrap.dedent(downgrade).strip(), "    ") + "\n"
        path = self.versions / f"{rev}.py"
        path.write_text(body)
        return path

    def command(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``alembic.command.<name>(config, ...)`` in this process."""
        output = kwargs.pop("output", None)
        return getattr(command, name)(self.config(output=output), *args, **kwargs)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The ``alembic`` executable in a subprocess, run in the project directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EC_DATABASE")}
        proc = subprocess.run(
            [ALEMBIC, *args],
            check=False,
            cwd=self.root,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"alembic {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """env.py calls logging.config.fileConfig, which disables every logger that exists then
    (ec's among them) and replaces the root handlers: undo that for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    disabled = {
        name: logger.disabled
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.disabled = disabled.get(name, False)
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture
def alembic_project(
    ec_db: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AlembicProject]:
    monkeypatch.chdir(tmp_path)  # no ec settings from the repository's pyproject.toml
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    yield AlembicProject(tmp_path, ec_db)

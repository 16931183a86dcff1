"""``ec verify``: old and new app versions against the schema at every phase of a migration."""

from __future__ import annotations

import click

from expandcontract.cli.app import App, common_options, exit_failed
from expandcontract.config import SERVER_KINDS
from expandcontract.errors import ConfigError


@click.command()
@click.argument("migration", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--alembic",
    "alembic_config",
    type=click.Path(dir_okay=False),
    help="Alembic project (alembic.ini or pyproject.toml): verify a revision instead of MIGRATION.",
)
@click.option(
    "--revision",
    help="With --alembic: the revision whose op.expand_contract to verify (id, prefix, head).",
)
@click.option("--old", "old_spec", required=True, help="Old app version: module:Base or MetaData.")
@click.option("--new", "new_spec", required=True, help="New app version: module:Base or MetaData.")
@click.option("--old-check", help="module:func called with a Connection bound to the old version.")
@click.option("--new-check", help="module:func called with a Connection bound to the new version.")
@click.option(
    "--base-sql",
    type=click.Path(dir_okay=False),
    help="DDL dump to build the schema before the migration (default: create_all of --old).",
)
@click.option(
    "--history",
    type=click.Path(file_okay=False),
    help="Directory of earlier ec migrations to apply first (instead of create_all).",
)
@click.option(
    "--server",
    type=click.Choice(SERVER_KINDS),
    default="auto",
    show_default=True,
    help="Throwaway PostgreSQL (auto: a container when Docker answers, else embedded/local).",
)
@click.option("--rows", type=click.IntRange(min=1), default=200, show_default=True,
              help="Seed rows per table.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for generated data.")
@click.option(
    "--contract-before-switch",
    is_flag=True,
    help="Your rollout contracts while the old version still runs: check it after contract too.",
)
@common_options
def verify(
    app: App,
    migration: str | None,
    alembic_config: str | None,
    revision: str | None,
    old_spec: str,
    new_spec: str,
    old_check: str | None,
    new_check: str | None,
    base_sql: str | None,
    history: str | None,
    server: str,
    rows: int,
    seed: int,
    contract_before_switch: bool,
) -> None:
    """Prove MIGRATION (or the op.expand_contract of an Alembic revision) keeps the old and the
    new app version working at every phase, in a throwaway PostgreSQL. Exit 0 compatible,
    1 incompatible, 2 usage error."""
    from expandcontract.verify.alembic_source import AlembicRevision, load_revision
    from expandcontract.verify.api import verify_migration
    from expandcontract.verify.inputs import load_check, load_metadata

    target: str | AlembicRevision
    if alembic_config is not None:
        if migration is not None:
            raise ConfigError(
                "give either MIGRATION or --alembic, not both",
                "--alembic alembic.ini --revision REV verifies that revision's ec migration",
            )
        target = load_revision(alembic_config, revision or "head")
    elif revision is not None:
        raise ConfigError(
            "--revision needs --alembic", "e.g. --alembic alembic.ini --revision head"
        )
    elif migration is None:
        raise ConfigError(
            "nothing to verify: give an ec migration file or --alembic alembic.ini --revision REV"
        )
    else:
        target = migration
    report = verify_migration(
        target,
        old=load_metadata(old_spec, option="--old"),
        new=load_metadata(new_spec, option="--new"),
        old_check=load_check(old_check, option="--old-check") if old_check else None,
        new_check=load_check(new_check, option="--new-check") if new_check else None,
        base_sql=base_sql,
        history=history,
        server=server,
        rows=rows,
        seed=seed,
        schema=app.settings.schema,
        contract_before_switch=contract_before_switch,
    )
    if isinstance(target, AlembicRevision) and target.ops_after and not app.json:
        app.err.print(
            f"note: revision {target.revision} runs other operations after "
            "op.expand_contract; ec verify does not check them",
            markup=False,
        )
    app.emit(report.to_json(), report.render)
    if not report.compatible:
        exit_failed()

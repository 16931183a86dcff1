"""The new version's views of tables a raw ``sql`` operation declares (``tables: [..]``).

The plan is built before the sql runs, so ec cannot know then which columns such a table will
have. Its view is therefore planned as one DO block that reads the catalog when the step runs:
the columns the new version's state maps (in order, under their new-version names), then
every column the sql added, in table order. Columns of the base table that the new version
does not show (dropped or twinned by another operation) and ec's own ``_ec_`` columns stay
hidden. The view keeps its options when it exists already (a refresh after an ``on: contract``
sql), otherwise it checks as the invoker where PostgreSQL supports it.
"""

from __future__ import annotations

import dataclasses

from psycopg import sql

from expandcontract.operations.base import CATALOG, PlannedStep
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import PREFIX, LogicalTable, VersionState


@dataclasses.dataclass(frozen=True)
class Declared:
    """A table an sql operation creates (``created``) or changes, in phase ``on``."""

    table: str
    on: str  # expand | contract
    where: str
    created: bool


def declare(state: VersionState, declared: Declared) -> None:
    state.sql_tables.append(declared)


def declared_tables(state: VersionState) -> list[Declared]:
    return list(state.sql_tables)


def created_by_sql(state: VersionState, table: str) -> bool:
    return any(d.created and d.table == table for d in declared_tables(state))


def logical_of(state: VersionState, physical: str) -> LogicalTable | None:
    return next((t for t in state.tables.values() if t.physical == physical), None)


_BODY = """
DECLARE
  ec_rel regclass := to_regclass(format('%I.%I', {schema}, {table}));
  ec_view regclass := to_regclass(format('%I.%I', {version}, {table}));
  ec_logical text[] := {logical}::text[];
  ec_physical text[] := {physical}::text[];
  ec_hidden text[] := {hidden}::text[];
  ec_options text := {options};
  ec_missing text;
  ec_columns text;
  ec_row record;
BEGIN
  IF ec_rel IS NULL OR (SELECT relkind FROM pg_class WHERE oid = ec_rel) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION USING MESSAGE = {absent};
  END IF;
  SELECT string_agg(quote_ident(p), ', ') INTO ec_missing FROM unnest(ec_physical) AS p
  WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = ec_rel AND a.attname = p
                    AND a.attnum > 0 AND NOT a.attisdropped);
  IF ec_missing IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = {gone} || ec_missing || {gone_advice};
  END IF;
  IF ec_view IS NOT NULL THEN
    SELECT coalesce('WITH (' || array_to_string(reloptions, ', ') || ')', '') INTO ec_options
    FROM pg_class WHERE oid = ec_view;
  END IF;
  SELECT string_agg(format('%I AS %I', c.phys, c.name), ', ' ORDER BY c.ord) INTO ec_columns
  FROM (
    SELECT m.phys, m.name, m.ord
    FROM unnest(ec_physical, ec_logical) WITH ORDINALITY AS m(phys, name, ord)
    UNION ALL
    SELECT a.attname, a.attname, 1000000 + a.attnum FROM pg_attribute a
    WHERE a.attrelid = ec_rel AND a.attnum > 0 AND NOT a.attisdropped
      AND left(a.attname, {prefix_length}) <> {prefix}
      AND a.attname <> ALL (ec_physical || ec_hidden)
  ) AS c;
  EXECUTE format('CREATE OR REPLACE VIEW %I.%I %s AS SELECT %s FROM %I.%I', {version}, {table},
                 ec_options, coalesce(ec_columns, ''), {schema}, {table});
  FOR ec_row IN
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee))
           END AS grantee, string_agg(DISTINCT a.privilege_type, ', ') AS privileges
    FROM pg_class k, aclexplode(k.relacl) AS a
    WHERE k.oid = ec_rel AND a.grantee <> k.relowner
      AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
    GROUP BY 1
  LOOP
    EXECUTE format('GRANT %s ON %I.%I TO %s', ec_row.privileges, {version}, {table},
                   ec_row.grantee);
  END LOOP;
  FOR ec_row IN
    SELECT a.attname, col_description(ec_rel, a.attnum) AS note FROM pg_attribute a
    WHERE a.attrelid = ec_rel AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname <> ALL (ec_physical || ec_hidden)
      AND col_description(ec_rel, a.attnum) IS NOT NULL
  LOOP
    EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', {version}, {table}, ec_row.attname,
                   ec_row.note);
  END LOOP;
END
"""


def catalog_view(
    ctx: PhaseContext,
    table: str,
    *,
    logical: LogicalTable | None,
    invoker: bool,
    where: str,
) -> sql.Composed:
    """One statement: (re)create the new version's view of ``table`` from the catalog.

    ``logical`` is the table as the new version's state knows it (None: the sql creates it).
    A mapped column the sql removed or renamed stops the step with a message: the new
    version's code would miss it, and rename_column / drop_column say what the versions see.
    """
    mapped = list(logical.columns.values()) if logical is not None else []
    physical = ctx.physical.tables.get(table)
    shown = {c.physical for c in mapped}
    hidden = [c for c in physical.columns if c not in shown] if physical is not None else []
    body = sql.SQL(_BODY).format(
        schema=sql.Literal(ctx.schema),
        table=sql.Literal(table),
        version=sql.Literal(ctx.version_schema),
        logical=sql.Literal([c.name for c in mapped]),
        physical=sql.Literal([c.physical for c in mapped]),
        hidden=sql.Literal(hidden),
        options=sql.Literal("WITH (security_invoker = true)" if invoker else ""),
        # ec reports the message of a failed step, not PostgreSQL's HINT: the advice goes in it.
        absent=sql.Literal(
            f"{where} declares table {table!r} in tables:, but there is no such table in "
            f"schema {ctx.schema!r} after the sql ran; list in tables: only the tables the sql "
            "creates or changes (unqualified names in the base schema)"
        ),
        gone=sql.Literal(
            f"{where} changed table {table!r} in a way the new version cannot follow: "
            "column(s) it maps are gone: "
        ),
        gone_advice=sql.Literal(
            "; raw sql may create tables and add or change columns: rename or drop columns with "
            "rename_column / drop_column, so each version keeps its names"
        ),
        prefix_length=sql.Literal(len(PREFIX)),
        prefix=sql.Literal(PREFIX),
    )
    # DO takes no parameters: the body is one string literal, every value in it a literal.
    return sql.SQL("DO {}").format(sql.Literal(body.as_string(None)))


def refresh_step(ctx: PhaseContext, declared: Declared) -> PlannedStep:
    """After an ``on: contract`` sql: the current version's view of a declared table."""
    logical = None if declared.created else logical_of(ctx.state, declared.table)
    statements = (
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(ctx.version_schema)),
        catalog_view(
            ctx,
            declared.table,
            logical=logical,
            invoker=ctx.physical.server_version >= 150000,
            where=declared.where,
        ),
    )
    return PlannedStep(
        f"view:{declared.table}",
        f"view {ctx.version_schema}.{declared.table} from the catalog (declared by the sql)",
        statements,
        "none on tables",
        CATALOG,
    )

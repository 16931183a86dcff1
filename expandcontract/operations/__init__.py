"""Operations, one module each, all with the interface of :class:`Operation`."""

from expandcontract.operations.add_column import AddColumn
from expandcontract.operations.alter_column import AlterColumn
from expandcontract.operations.base import MigrationInvalid, Operation, PlannedStep
from expandcontract.operations.columns import ColumnSpec
from expandcontract.operations.create_constraint import CreateConstraint
from expandcontract.operations.create_index import CreateIndex
from expandcontract.operations.create_table import CreateTable
from expandcontract.operations.drop_column import DropColumn
from expandcontract.operations.drop_constraint import DropConstraint
from expandcontract.operations.drop_index import DropIndex
from expandcontract.operations.drop_table import DropTable
from expandcontract.operations.raw_sql import RawSql
from expandcontract.operations.rename_column import RenameColumn
from expandcontract.operations.rename_constraint import RenameConstraint
from expandcontract.operations.rename_table import RenameTable
from expandcontract.operations.set_replica_identity import SetReplicaIdentity

OPERATIONS: dict[str, type[Operation]] = {
    op.kind: op
    for op in (
        AddColumn,
        RenameColumn,
        AlterColumn,
        DropColumn,
        CreateTable,
        DropTable,
        RenameTable,
        CreateIndex,
        DropIndex,
        RawSql,
        CreateConstraint,
        DropConstraint,
        RenameConstraint,
        SetReplicaIdentity,
    )
}

__all__ = [
    "OPERATIONS",
    "AddColumn",
    "AlterColumn",
    "ColumnSpec",
    "CreateIndex",
    "CreateTable",
    "DropColumn",
    "DropIndex",
    "DropTable",
    "MigrationInvalid",
    "Operation",
    "PlannedStep",
    "RawSql",
    "RenameColumn",
    "RenameTable",
]

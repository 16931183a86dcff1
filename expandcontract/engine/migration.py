"""A migration: a name, an optional version schema name, and a list of operations.

Loaded from YAML or JSON (the file stem is the name unless ``name:`` is given) or built in
Python: ``Migration("0002_status", [AddColumn(...), ...])``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from expandcontract.operations import OPERATIONS, MigrationInvalid, Operation

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")


@dataclasses.dataclass
class Migration:
    name: str
    operations: list[Operation]
    version_schema: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise MigrationInvalid(
                f"migration name {self.name!r} must be 1-63 letters, digits, _ . or -"
            )
        if not self.operations:
            raise MigrationInvalid(f"migration {self.name!r} has no operations")

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name,
            "operations": [{op.kind: op.to_spec()} for op in self.operations],
        }
        if self.version_schema:
            spec["version_schema"] = self.version_schema
        return spec

    @property
    def checksum(self) -> str:
        canonical = json.dumps(self.to_spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def schema_for(self, base_schema: str) -> str:
        """Name of the new version's schema: ``version_schema`` or ``<base>_<name>``."""
        name = self.version_schema or f"{base_schema}_{self.name}"
        if len(name.encode()) > 63:
            raise MigrationInvalid(
                f"version schema name {name!r} is longer than 63 bytes",
                "set a shorter `version_schema:` in the migration file",
            )
        return name


def from_spec(data: Any, *, default_name: str) -> Migration:
    if not isinstance(data, dict):
        raise MigrationInvalid("a migration file is a mapping with an `operations:` list")
    unknown = sorted(set(data) - {"name", "operations", "version_schema"})
    if unknown:
        raise MigrationInvalid(
            f"unknown top-level key(s): {', '.join(unknown)}",
            "a migration has name, version_schema and operations",
        )
    raw_ops = data.get("operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise MigrationInvalid("`operations:` must be a non-empty list")
    operations: list[Operation] = []
    for i, raw in enumerate(raw_ops, start=1):
        where = f"operation {i}"
        if not isinstance(raw, dict) or len(raw) != 1:
            raise MigrationInvalid(
                f"{where}: each operation is a mapping with exactly one key (its kind)",
                f"kinds: {', '.join(OPERATIONS)}",
            )
        ((kind, body),) = raw.items()
        if kind not in OPERATIONS:
            raise MigrationInvalid(
                f"{where}: unknown operation {kind!r}", f"kinds: {', '.join(OPERATIONS)}"
            )
        operations.append(OPERATIONS[kind].from_spec(body, where=f"{where} ({kind})"))
    name = data.get("name") or default_name
    version_schema = data.get("version_schema")
    if version_schema is not None and not isinstance(version_schema, str):
        raise MigrationInvalid("version_schema must be a string")
    return Migration(str(name), operations, version_schema)


class DuplicateKey(yaml.MarkedYAMLError):
    """A mapping repeats a key: YAML and JSON parsers keep the last value silently."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `on:`, `off:`, `yes:`, `no:` as booleans; migration files mean words
    (`sql: {on: contract}`), so only true/false are booleans here. A repeated key in one
    mapping is an error, not "last one wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` then a key of its own overrides on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
            if earlier is not key_node.start_mark:
                raise DuplicateKey(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping (first on line "
                    f"{earlier.line + 1}); only one value can apply",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _RepeatedJsonKey(Exception):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = [key for key in dict.fromkeys(keys) if keys.count(key) > 1]
    if repeated:
        raise _RepeatedJsonKey(repeated[0])
    return dict(pairs)


def parse_text(text: str, *, source: str, json_format: bool) -> Any:
    """The data of a migration file's text (YAML, or JSON when ``json_format``), with every
    syntax error and repeated key reported as MigrationInvalid naming ``source`` and, where
    known, the line and column (``"<source>, line L, column C: …"``)."""
    if json_format:
        try:
            return json.loads(text, object_pairs_hook=_unique_object)
        except json.JSONDecodeError as exc:
            raise MigrationInvalid(
                f"{source}, line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
            ) from None
        except _RepeatedJsonKey as exc:
            # json gives no positions; YAML reads this JSON too and finds the key's line.
            try:
                yaml.load(text, Loader=_Loader)
            except DuplicateKey as located:
                _raise_yaml_error(located, source)
            except yaml.YAMLError:
                pass
            raise MigrationInvalid(
                f"{source}: key {exc.args[0]!r} appears twice in one JSON object; "
                "only one value can apply",
                "remove one of them",
            ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        _raise_yaml_error(exc, source)
    except yaml.YAMLError as exc:
        raise MigrationInvalid(f"{source} is not valid YAML: {exc}") from None


def _raise_yaml_error(exc: yaml.MarkedYAMLError, source: str) -> NoReturn:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
    hint = "remove one of them" if isinstance(exc, DuplicateKey) else None
    raise MigrationInvalid(f"{where}: {exc.problem}", hint) from None


def load(path: str | Path) -> Migration:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MigrationInvalid(f"cannot read migration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise MigrationInvalid(
            f"migration file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
            "save it as UTF-8",
        ) from None
    data = parse_text(raw, source=str(path), json_format=path.suffix == ".json")
    return from_spec(data, default_name=path.stem)

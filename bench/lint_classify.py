"""Statement spans and reason classes for comparing squawk's findings with ec's (used by
bench/lint_compare.py). No ec import here: the rules' equivalents come in as plain data, so the
classifier stays the same while ec's front end changes underneath.

A finding is placed on a *statement* (its line falls in the statement's span, or in the comments
before it), because the two tools point at different places (ec: the statement; squawk: the
column or constraint inside it). Then each squawk finding gets one class:

- matched: ec reports an equivalent id (rule ``equivalents["squawk"]``) on that statement,
  or anywhere in the file for the once-per-file timeout rules;
- design choice: ec reports the same statement under a related id (RELATED), or the finding is
  one ec deliberately does not give (DESIGN);
- ec right: a reason below says why the finding does not apply (table created in the same
  file, robust-statement advice for a file its tool runs in one transaction, compatibility rule
  on a down/rollback file, squawk's own parser rejecting valid SQL);
- ec miss: everything else, including the statement ec declared unanalysed and the down files
  a folder walk of ec skips.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# squawk id -> ec ids that report the same statement for the same hazard, worded or split
# differently (counted as "design choice", not a miss)
RELATED: dict[str, set[str]] = {
    "adding-foreign-key-constraint": {"foreign-key-missing-not-valid"},
    "constraint-missing-not-valid": {
        "foreign-key-missing-not-valid",
        "set-not-null",
        "adding-required-field",
        "disallowed-unique-constraint",
        "adding-primary-key",
        "exclusion-constraint",
    },
    "adding-not-nullable-field": {"set-not-null", "adding-required-field"},
    "adding-required-field": {"set-not-null"},
    "adding-field-with-default": {"add-column-rewrite-default", "add-column-generated-stored"},
    "adding-serial-primary-key-field": {"adding-primary-key", "add-column-serial"},
    "disallowed-unique-constraint": {"adding-primary-key", "require-concurrent-index-creation"},
    "ban-drop-view": {"ban-drop-object"},
    "ban-drop-function": {"ban-drop-object"},
    "ban-drop-type": {"ban-drop-object"},
    "ban-drop-extension": {"ban-drop-object"},
    "ban-drop-sequence": {"ban-drop-object"},
    "ban-drop-trigger": {"ban-drop-object"},
    "prefer-timestamp-tz": {"prefer-timestamptz"},  # ec's equivalents spell it differently
    "renaming-object": {"renaming-table", "renaming-column"},
    "renaming-table": {"renaming-object"},
    "renaming-column": {"renaming-object"},
    "changing-column-type": {"set-not-null"},
    "require-timeout-settings": {"require-lock-timeout", "require-statement-timeout"},
}
# findings reported once per file by squawk (first lock-taking statement): match per file
FILE_LEVEL = {"require-lock-timeout", "require-statement-timeout", "require-timeout-settings"}
# squawk rules whose advice assumes a statement can fail half-way and leave the file half-run
ROBUSTNESS = {"prefer-robust-stmts"}
# squawk rules about locking/scanning a table: moot when the table is new in the same file
NEW_TABLE_MOOT = {
    "require-concurrent-index-creation",
    "adding-foreign-key-constraint",
    "constraint-missing-not-valid",
    "adding-not-nullable-field",
    "adding-required-field",
    "adding-field-with-default",
    "disallowed-unique-constraint",
    "changing-column-type",
    "adding-serial-primary-key-field",
    "ban-drop-column",
    "ban-drop-not-null",
    "ban-drop-constraint",
    "ban-drop-default",
    "renaming-column",
    "require-concurrent-index-deletion",
    "ban-drop-table",
    "renaming-table",
    "renaming-object",
    "ban-drop-type",
}


@dataclass
class Span:
    start: int  # 1-based line of the statement's first token
    end: int  # 1-based line of its last character
    text: str


_TOKEN = re.compile(r"--[^\n]*|/\*|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$[A-Za-z_]*\$|;|\S", re.S)


def statement_spans(sql: str) -> list[Span]:
    """Split on top-level ``;`` (quotes, comments, nested /* */ and $tag$ bodies respected).
    Good enough to place findings; it is not a validator."""
    spans: list[Span] = []
    pos, start = 0, -1
    while pos < len(sql):
        m = _TOKEN.search(sql, pos)
        if not m:
            break
        tok = m.group()
        end = m.end()
        if tok.startswith("--"):
            pos = end
            continue
        if tok == "/*":
            depth, end = 1, m.end()
            while depth and end < len(sql):
                nxt = re.compile(r"/\*|\*/").search(sql, end)
                if not nxt:
                    end = len(sql)
                    break
                depth += 1 if nxt.group() == "/*" else -1
                end = nxt.end()
            pos = end
            continue
        if start < 0:
            start = m.start()
        if tok.startswith("$") and tok.endswith("$") and len(tok) >= 2:
            close = sql.find(tok, end)
            end = len(sql) if close < 0 else close + len(tok)
        elif tok == ";":
            spans.append(_span(sql, start, end))
            start = -1
        pos = end
    if start >= 0:
        spans.append(_span(sql, start, len(sql)))
    return spans


def _span(sql: str, start: int, end: int) -> Span:
    first = sql.count("\n", 0, start) + 1
    return Span(first, first + sql.count("\n", start, end), sql[start:end])


def statement_at(spans: list[Span], line: int) -> int:
    """Index of the statement holding ``line`` (a comment line belongs to the next one)."""
    if not spans:
        return -1
    i = bisect.bisect_right([s.start for s in spans], line) - 1
    if i >= 0 and spans[i].end >= line:
        return i
    return min(i + 1, len(spans) - 1)


_NAME = r"(?:\"[^\"]+\"|\{\{[^}]*\}\}|[\w$]+)"
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})*)"
_CREATED = re.compile(
    rf"\bcreate\s+(?:(?:global|local)\s+)?(?:temp\w*\s+|unlogged\s+)?(?:materialized\s+view|table|type)\s+"
    rf"(?:if\s+not\s+exists\s+)?{_QUALIFIED}",
    re.I,
)
_TARGET = re.compile(
    rf"\b(?:alter\s+(?:table|type)|drop\s+(?:table|type)|on)\s+(?:only\s+)?(?:if\s+exists\s+)?"
    rf"(?:only\s+)?{_QUALIFIED}",
    re.I,
)


def _bare(name: str) -> str:
    last = re.split(r"\s*\.\s*(?=[^.]*$)", name)[-1]
    return last[1:-1] if last.startswith('"') else last.lower()


def created_tables(spans: Iterable[Span]) -> set[str]:
    return {_bare(m.group(1)) for s in spans for m in _CREATED.finditer(s.text)}


def target_table(text: str) -> str | None:
    m = _TARGET.search(text)
    return _bare(m.group(1)) if m else None


def shape(text: str) -> str:
    """A statement's pattern for grouping: its leading keywords, names replaced."""
    words = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", " ", text)).strip().split(" ")
    keep = []
    for w in words[:8]:
        if not re.fullmatch(r"[A-Za-z_]+", w) or (w.upper() != w and w.lower() != w):
            keep.append("…")
            break
        keep.append(w.upper())
    return " ".join(keep)[:60]


# statements that wait for, then hold, a lock blocking reads or writes of an existing relation
_BLOCKING = re.compile(
    r"^\s*(alter\s+table|drop\s+(table|index(?!\s+concurrently)|view|materialized\s+view|trigger)"
    r"|create\s+(unique\s+)?index(?!\s+concurrently)|create\s+or\s+replace\s+view|create\s+trigger"
    r"|create\s+(constraint\s+)?trigger|refresh\s+materialized\s+view(?!\s+concurrently)"
    r"|truncate|lock\b|vacuum\s+full|cluster\b|reindex(?!.*concurrently)|alter\s+(materialized\s+)?view"
    r"|create\s+policy|alter\s+policy|drop\s+policy)",
    re.I | re.S,
)
_REFERENCES = re.compile(rf"\breferences\s+{_QUALIFIED}", re.I)
# Go templates ({{ .Schema }}) and psql script syntax (:var, :'var', \meta-commands): rendered
# by the tool before PostgreSQL sees the text
_GO_TEMPLATE = re.compile(r"\{\{.*?\}\}|(?<![:\w]):'?[A-Za-z_]\w*'?(?!:)|^\s*\\[a-z]+", re.M)


def blocks_existing(span: Span, created: set[str]) -> bool:
    """Whether the statement takes a lock that blocks reads/writes of a relation the file did
    not create (the case lock_timeout/statement_timeout exist for)."""
    text = re.sub(r"^(\s*--[^\n]*\n)+", "", span.text)
    if _CREATED.match(text.strip()):
        refs = {_bare(m.group(1)) for m in _REFERENCES.finditer(text)}
        return bool(refs - created)  # REFERENCES locks the referenced table
    if not _BLOCKING.match(text):
        return False
    target = target_table(text)
    return target is None or target not in created


_KEYWORDS = frozenset(
    re.findall(
        r"\w+",
        "add alter column constraint drop if exists not null unique primary key foreign references"
        " check default type set on only table index create timestamp serial bigserial smallserial"
        " integer int int4 int2 smallint varchar character varying char text with without time"
        " zone cascade restrict using collate",
    )
)


def _words(text: str) -> list[str]:
    return [w.strip('"').lower() for w in re.findall(r'"[^"]+"|[A-Za-z_]\w*', text)]


def flagged_name(lines: list[str], row: dict[str, object]) -> str | None:
    """The object a squawk finding is about: the first name inside its span, else the last
    name before it on the line (``created_at TIMESTAMP`` -> created_at)."""
    line, col = int(str(row["line"])), int(str(row["column"]))
    if line >= len(lines):
        return None
    end = int(str(row["column_end"])) if row["line_end"] == row["line"] else len(lines[line])
    inside = [w for w in _words(lines[line][col:end]) if w not in _KEYWORDS]
    before = [w for w in _words(lines[line][:col]) if w not in _KEYWORDS]
    return inside[0] if inside else (before[-1] if before else None)


@dataclass
class FileFacts:
    spans: list[Span]
    transactional: bool  # the tool (or the file itself) runs it as one transaction
    down: bool  # a down/revert file
    linted_by_ec: bool
    squawk_parse_error: bool
    created: set[str] = field(default_factory=set)
    down_from: int = 0  # first line of a -- migrate:down / -- +goose Down section (0 = none)
    valid: bool = True  # PostgreSQL's parser accepts the file as it is
    templated: bool = False  # has {{ … }} placeholders the migration tool renders

    def is_down(self, line: int) -> bool:
        return self.down or (0 < self.down_from <= line)

    def blocking(self, down: bool) -> list[Span]:
        """Blocking statements of the up part (down=False) or of the down part."""
        return [
            s
            for s in self.spans
            if self.is_down(s.start) == down and blocks_existing(s, self.created)
        ]


_DOWN_MARK = re.compile(r"^\s*--\s*(migrate:down|\+goose\s+down)\b", re.I | re.M)


def down_section(text: str) -> int:
    m = _DOWN_MARK.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 0


def templated(text: str) -> bool:
    return _GO_TEMPLATE.search(text) is not None


@dataclass
class Verdict:
    cls: str  # matched | design choice | ec right | ec miss
    reason: str


_RENAME_HARMLESS = re.compile(
    r"^\s*alter\s+(index\b|trigger\b|table\b.*\brename\s+constraint\b)", re.I | re.S
)  # no query names an index or a trigger; a constraint only in ON CONFLICT ON CONSTRAINT
_NO_GUARD_FORM = re.compile(
    r"^\s*alter\s+table\b(?!.*\b(drop|add\s+column)\b)", re.I | re.S
)  # ALTER TABLE actions PostgreSQL has no IF [NOT] EXISTS for (ADD CONSTRAINT, TYPE, SET …)
_STORAGE_PARAMS = re.compile(r"^\s*alter\s+table\b[^;]*\bset\s*\(", re.I | re.S)
_DROP_ROUTINE = re.compile(
    rf"^\s*drop\s+(function|procedure|aggregate)\s+(if\s+exists\s+)?{_QUALIFIED}", re.I
)


def _recreated(name: str, facts: FileFacts) -> bool:
    """A routine dropped and created again (CREATE [OR REPLACE] FUNCTION name) in the file."""
    wanted = re.compile(
        rf"^\s*create\s+(or\s+replace\s+)?(function|procedure|aggregate)\s+{re.escape(name)}\b",
        re.I,
    )
    return any(wanted.search(span.text) for span in facts.spans)


def _added_earlier(text: str, facts: FileFacts) -> bool:
    """The constraint this statement drops was added by an earlier statement of the file."""
    found = re.search(rf"\bdrop\s+constraint\s+(?:if\s+exists\s+)?({_NAME})", text, re.I)
    if not found:
        return False
    added = re.compile(rf"\badd\s+constraint\s+{re.escape(found.group(1))}(?![\w$])", re.I)
    return any(added.search(s.text) for s in facts.spans if s.text != text)


def _decided(rule: str, text: str, facts: FileFacts) -> Verdict | None:
    """Cases ec decides differently on purpose (design choice) or correctly (ec right)."""
    if rule == "renaming-object" and _RENAME_HARMLESS.search(text):
        return Verdict(
            "design choice", "index / constraint rename: no query names an index (ec allows it)"
        )
    if rule == "identifier-too-long" and re.match(r"^\s*drop\b", text, re.I):
        return Verdict(
            "design choice", "long name in DROP: PostgreSQL truncates it the same way, finds it"
        )
    if rule == "prefer-robust-stmts" and _NO_GUARD_FORM.search(text):
        return Verdict(
            "design choice", "robust-stmts on an action that has no IF [NOT] EXISTS form"
        )
    if rule == "ban-drop-constraint" and _added_earlier(text, facts):
        return Verdict("ec right", "constraint added earlier in the same file (a helper CHECK)")
    dropped = _DROP_ROUTINE.search(text)
    if rule == "ban-drop-function" and dropped and _recreated(_bare(dropped.group(3)), facts):
        return Verdict("ec right", "routine dropped and created again in the file: a replacement")
    return None


def classify(
    rule: str,
    stmt: int,
    facts: FileFacts,
    ec_at: dict[int, set[str]],
    ec_in_file: set[str],
    equiv: dict[str, set[str]],
    compat_ids: set[str],
) -> Verdict:
    """The class of one squawk finding; ``ec_at`` = ec rule ids per statement index."""
    exact = equiv.get(rule, set())
    here = ec_at.get(stmt, set())
    if rule in FILE_LEVEL:
        if exact & ec_in_file:
            return Verdict("matched", rule)
    elif exact & here:
        return Verdict("matched", rule)
    if RELATED.get(rule, set()) & (ec_in_file if rule in FILE_LEVEL else here):
        return Verdict("design choice", f"{rule} reported under a related ec id")
    span = facts.spans[stmt] if 0 <= stmt < len(facts.spans) else None
    text = span.text if span else ""
    down = facts.is_down(span.start if span else 1)
    if rule == "syntax-error":
        if facts.valid:
            return Verdict("ec right", "squawk's parser rejects SQL PostgreSQL accepts")
        if facts.templated:
            return Verdict(
                "ec right", "template/psql placeholders: not SQL until the tool renders it"
            )
        if "syntax-error" in ec_in_file:
            return Verdict("matched", rule)
        return Verdict(
            "ec miss", "invalid SQL (PostgreSQL rejects it) accepted without a syntax error"
        )
    if rule in FILE_LEVEL:
        if not facts.linted_by_ec:
            return Verdict("ec miss", "file not linted by ec")
        blocking = facts.blocking(down)
        if blocking and all(_STORAGE_PARAMS.search(b.text) for b in blocking):
            return Verdict(
                "design choice", "SET (storage parameter): SHARE UPDATE EXCLUSIVE, blocks no query"
            )
        if blocking:
            return Verdict("ec miss", f"{rule}: file has a statement blocking an existing table")
        if re.search(r"\bconcurrently\b", text, re.I):
            return Verdict(
                "design choice", "timeout on CONCURRENTLY (waits without blocking reads/writes)"
            )
        return Verdict("ec right", "timeout: no statement blocks reads/writes of an existing table")
    if rule in NEW_TABLE_MOOT and target_table(text) in facts.created:
        return Verdict("ec right", "table created in the same file (empty, unseen)")
    if rule == "require-concurrent-index-creation" and re.search(r"\bon\s+only\b", text, re.I):
        return Verdict(
            "ec right", "index ON ONLY a partitioned parent: catalog-only, no CONCURRENTLY"
        )
    if rule == "transaction-nesting" and re.search(
        r"\bsavepoint\b", "".join(s.text for s in facts.spans), re.I
    ):
        return Verdict("ec right", "savepoints are not nested transactions")
    if rule == "adding-required-field" and re.search(r"\b(big|small)?serial\b", text, re.I):
        return Verdict("ec right", "serial column has a default: not a required field")
    if rule in ROBUSTNESS and facts.transactional:
        return Verdict(
            "ec right", "file runs in one transaction: a failure leaves nothing half-done"
        )
    if down and (exact | RELATED.get(rule, set())) & compat_ids:
        return Verdict(
            "ec right", "compatibility rule on a down/revert file (old code never used it)"
        )
    decided = _decided(rule, text, facts)
    if decided is not None:
        return decided
    if not facts.linted_by_ec:
        return Verdict("ec miss", "file not linted by ec (down/revert file skipped)")
    if "unanalysed-statement" in here:
        return Verdict("ec miss", "statement reported as unanalysed-statement")
    if facts.squawk_parse_error:
        return Verdict("ec miss", f"{rule} (file where squawk also reports a syntax error)")
    return Verdict("ec miss", rule)

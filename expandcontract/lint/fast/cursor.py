"""A strict cursor over fast-lexer tokens: every helper either consumes exactly what it
expects or raises ``Decline``, so a statement is recognised only when all of it was read."""

from __future__ import annotations

from expandcontract.lint.lexer import KIND, NUMBER, PUNCT, QUOTED, STRING, TEXT, UP, WORD, Tok

# Words that end a name or start a clause, and words sqlglot reads as something else where a
# name stands (CURRENT_DATE, LATERAL, XOR, …): a bare one where a name is wanted means the
# statement is not the shape we think, and sqlglot decides instead. tests/lint/test_fast_path.py
# puts every sqlglot keyword in every name position to keep this list complete.
_RESERVED_TEXT = (
    "ADD ALL ALTER ANALYZE AND ANTI ANY ARRAY AS ASC ASOF BEGIN BETWEEN BY CASCADE CASE CAST "
    "CHECK COLLATE COLUMN COMMIT CONCURRENTLY CONSTRAINT CREATE CROSS CURRENT_CATALOG "
    "CURRENT_DATE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEFAULT "
    "DEFERRABLE DELETE DESC DESCRIBE DISTINCT DO DROP ELSE END EXCEPT EXCLUDE EXISTS FALSE "
    "FETCH FOR FOREIGN FROM FULL FUNCTION GLOB GRANT GROUP HAVING IF ILIKE IN INDEX INNER "
    "INSERT INTERSECT INTO IS JOIN KEY LATERAL LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LOCK "
    "NATURAL NOT NOTNULL NULL OFFSET ON ONLY OR ORDER OUTER PARTITIONED_BY PRIMARY QUALIFY "
    "REFERENCES REGEXP RENAME RESTRICT RETURNING REVOKE RIGHT RLIKE ROLLBACK SELECT SEMI "
    "SESSION_USER SET SOME TABLE TABLESAMPLE THEN TO TRUE TYPE UNCACHE UNION UNIQUE UNNEST "
    "UPDATE USING VALID VALIDATE VALUES VARIADIC WHEN WHERE WINDOW WITH XOR "
    # sqlglot's command words: "RESET exec.y" reads as the command, not the name
    "CALL DECLARE EXEC EXECUTE EXPLAIN OPTIMIZE PREPARE REFRESH REINDEX RELEASE RESET "
    "SAVEPOINT SHOW VACUUM SIMILAR COLUMNS CONNECT_BY_ROOT DISTKEY DISTSTYLE FORMAT SORTKEY"
)
RESERVED = frozenset(_RESERVED_TEXT.split())


class Decline(Exception):
    """Not a shape the fast path reads exactly."""


class Cursor:
    __slots__ = ("i", "n", "tokens")

    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens = tokens
        self.i = 0
        self.n = len(tokens)

    @property
    def done(self) -> bool:
        return self.i >= self.n

    def peek(self, ahead: int = 0) -> str:
        """The upper-cased word ``ahead`` tokens on, punctuation/operators as written, ''
        for strings, numbers, quoted names and the end (``Tok.up``)."""
        j = self.i + ahead
        return self.tokens[j][UP] if j < self.n else ""

    def token(self) -> Tok:
        if self.i >= self.n:
            raise Decline("unexpected end")
        return self.tokens[self.i]

    def accept(self, *words: str) -> bool:
        i, tokens = self.i, self.tokens
        if len(words) == 1:  # the common case, without the loop
            if i < self.n and tokens[i][UP] == words[0]:
                self.i = i + 1
                return True
            return False
        if i + len(words) > self.n:
            return False
        for k, word in enumerate(words):
            if tokens[i + k][UP] != word:
                return False
        self.i = i + len(words)
        return True

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise Decline(f"expected {' '.join(words)}")

    def end(self) -> None:
        if self.i != self.n:
            raise Decline("trailing tokens")

    def part(self) -> str:
        """One identifier: quoted keeps its case, unquoted is folded to lower case."""
        token = self.token()
        if token[KIND] == QUOTED and token[TEXT]:
            self.i += 1
            return token[TEXT]
        if token[KIND] == WORD and token[UP] not in RESERVED:
            self.i += 1
            return token[TEXT].lower()
        raise Decline("expected a name")

    def name(self, max_parts: int = 3) -> str:
        parts = [self.part()]
        while self.peek() == "." and len(parts) < max_parts:
            self.i += 1
            parts.append(self.part())
        if self.peek() == ".":
            raise Decline("name with too many parts")
        return ".".join(parts)

    def names_in_parens(self) -> list[str]:
        self.expect("(")
        names = [self.name(1)]
        while self.accept(","):
            names.append(self.name(1))
        self.expect(")")
        return names

    def string(self) -> str:
        token = self.token()
        if token[KIND] != STRING:
            raise Decline("expected a string")
        self.i += 1
        return token[TEXT]

    def number(self) -> str:
        token = self.token()
        if token[KIND] != NUMBER:
            raise Decline("expected a number")
        self.i += 1
        return token[TEXT]

    def skip_group(self) -> None:
        """Skip a balanced ( … ) or [ … ] group, the cursor on its opening bracket."""
        depth = 0
        while self.i < self.n:
            text = self.tokens[self.i][TEXT] if self.tokens[self.i][KIND] == PUNCT else ""
            self.i += 1
            if text in ("(", "["):
                depth += 1
            elif text in (")", "]"):
                depth -= 1
                if depth == 0:
                    return
        raise Decline("unbalanced brackets")

"""Shared by the rules about an ec migration file itself rather than SQL statements."""

from __future__ import annotations

# Tag of those rules: their ``check`` never fires on a SQL statement; the ec migration input
# runs their ``check_file`` on the file's operations, and their examples are migration files.
EC_MIGRATION = "ec-migration"

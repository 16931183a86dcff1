"""Where migrations come from: SQL files of the common tools, ec migration files, Alembic."""

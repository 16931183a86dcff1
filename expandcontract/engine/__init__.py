"""The migration engine: operations compiled into expand / backfill / switch / contract."""

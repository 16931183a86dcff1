"""``ec verify``: the old and the new app version against the schema at every phase of a
migration, in throwaway databases. Start at :func:`expandcontract.verify.api.verify_migration`."""

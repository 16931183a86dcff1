"""What each app version does against the database. v1 knows nothing of ec; v2 runs against
the new version's schema while the migration is in flight (``bind_version``)."""

from __future__ import annotations

import sqlalchemy as sa

from expandcontract.sqlalchemy import bind_version
from shop import models_v1, models_v2

NEW_VERSION = "public_shop_v2"  # the version schema of revision 0002 (ec migration "shop_v2")


def engine(url: str, version: int, *, during_rollout: bool = True) -> sa.Engine:
    """v1: plain SQLAlchemy. v2: bound to the new version's schema while the migration is in
    flight (its views keep working after contract, so a redeploy can drop the binding later)."""
    base = sa.create_engine(url, pool_pre_ping=True)
    return bind_version(base, NEW_VERSION) if version == 2 and during_rollout else base


def sign_up_v1(eng: sa.Engine, email: str, amount: int) -> None:
    with eng.begin() as conn:
        user_id = conn.execute(
            sa.insert(models_v1.users).values(email=email).returning(models_v1.users.c.id)
        ).scalar_one()
        conn.execute(sa.insert(models_v1.orders).values(user_id=user_id, amount=amount))


def sign_up_v2(eng: sa.Engine, email: str, amount: int) -> None:
    with eng.begin() as conn:
        user_id = conn.execute(
            sa.insert(models_v2.users)
            .values(email_address=email, status="trial")
            .returning(models_v2.users.c.id)
        ).scalar_one()
        conn.execute(sa.insert(models_v2.orders).values(user_id=user_id, amount=amount))


def emails_v1(eng: sa.Engine) -> set[str]:
    with eng.begin() as conn:
        return set(conn.execute(sa.select(models_v1.users.c.email)).scalars())


def emails_v2(eng: sa.Engine) -> set[str]:
    with eng.begin() as conn:
        return set(conn.execute(sa.select(models_v2.users.c.email_address)).scalars())

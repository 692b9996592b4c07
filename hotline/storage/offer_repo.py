"""Offers: where a case card or a crisis alert was shown to a counselor.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.storage.models import (
    Offer,
)


async def record_offer(
    s: AsyncSession, case_id: int, counselor_id: int, kind: str, card_ref: str | None, now: datetime
) -> None:
    s.add(Offer(case_id=case_id, counselor_id=counselor_id, kind=kind, card_ref=card_ref, created_at=now))


async def record_offers(s: AsyncSession, rows: Sequence[tuple[int, int, str, str | None, datetime]]) -> None:
    """:func:`record_offer` for several (case id, counselor id, kind, card ref, when), in one statement."""
    if rows:
        keys = ("case_id", "counselor_id", "kind", "card_ref", "created_at")
        await s.execute(
            insert(cast(Table, Offer.__table__)), [dict(zip(keys, row, strict=True)) for row in rows]
        )


async def shown_in(s: AsyncSession, case_ids: Sequence[int]) -> set[tuple[int, int, str]]:
    """(case id, counselor id, kind) of every card and alert shown for ``case_ids``, in one query."""
    query = select(Offer.case_id, Offer.counselor_id, Offer.kind).where(Offer.case_id.in_(case_ids))
    return {(row[0], row[1], row[2]) for row in (await s.execute(query)).all()}


async def offers_for(s: AsyncSession, case_id: int) -> list[Offer]:
    return list((await s.scalars(select(Offer).where(Offer.case_id == case_id).order_by(Offer.id))).all())


async def offered_to(s: AsyncSession, case_id: int, counselor_id: int, kind: str | None = None) -> bool:
    query = select(Offer.id).where(Offer.case_id == case_id, Offer.counselor_id == counselor_id)
    if kind is not None:
        query = query.where(Offer.kind == kind)
    found = await s.scalar(query.limit(1))
    return found is not None


__all__ = ["offered_to", "offers_for", "record_offer", "record_offers", "shown_in"]

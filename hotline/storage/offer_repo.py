"""Offers: where a case card or a crisis alert was shown to a counselor.

Each function works inside the caller's session (``Store.unit()``); nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.storage.models import (
    Offer,
)


async def record_offer(
    s: AsyncSession, case_id: int, counselor_id: int, kind: str, card_ref: str | None, now: datetime
) -> None:
    s.add(Offer(case_id=case_id, counselor_id=counselor_id, kind=kind, card_ref=card_ref, created_at=now))


async def offers_for(s: AsyncSession, case_id: int) -> list[Offer]:
    return list((await s.scalars(select(Offer).where(Offer.case_id == case_id).order_by(Offer.id))).all())


async def offered_to(s: AsyncSession, case_id: int, counselor_id: int, kind: str | None = None) -> bool:
    query = select(Offer.id).where(Offer.case_id == case_id, Offer.counselor_id == counselor_id)
    if kind is not None:
        query = query.where(Offer.kind == kind)
    found = await s.scalar(query.limit(1))
    return found is not None


__all__ = ["offered_to", "offers_for", "record_offer"]

"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterable

from hotline.sandbox import ChatUser
from hotline.sandbox.stage import ROSTER, Stage

COUNSELOR, OTHER, SUPERVISOR = (entry.telegram_id for entry in ROSTER)


async def consent_and_area(stage: Stage, user: ChatUser, area: str) -> None:
    notice = await stage.say(user, "/start")
    areas = await stage.press(user, notice, "consent:accept")
    await stage.press(user, areas, area)


def counselor_texts(stage: Stage) -> list[str]:
    return [text for entry in ROSTER for text in stage.texts_to(entry.telegram_id)]


def assert_no_identity(texts: Iterable[str], *identities: str) -> None:
    texts = list(texts)
    assert texts, "nothing was sent: the check would prove nothing"
    for text in texts:
        for identity in identities:
            assert identity not in text, f"{identity!r} leaked in {text!r}"

"""Counselors' booking commands: ``/slots`` (list, add, remove), ``/decline ID reason``,
``/cancelbooking ID reason``.

``/slots add 2026-12-01 18:30 60 online`` (or a place instead of ``online``): the time is read in the
service's zone; any hour of any day is allowed (seed: sessions may be after hours); slots of one
counselor may touch but not overlap (``flows.rules.validate_slot``). ``/slots remove ID`` takes back
one's own slot while nobody holds it (a held slot's booking is declined or cancelled first, so the employee
is told). A decline or cancel reason is kept encrypted and never shown to the employee.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline.bot.booking import Bookings, Party, small_number
from hotline.desk import Outgoing
from hotline.flows import booking_rules as rules
from hotline.flows import booking_vocab as vocab
from hotline.storage import booking_repo
from hotline.storage.booking_repo import as_slot
from hotline.storage.models import BookingRow, SlotRow

COMMANDS = frozenset({"slots", "decline", "cancelbooking"})


class BookingConsole:
    def __init__(self, bookings: Bookings) -> None:
        self.bookings = bookings
        self.desk = bookings.desk

    async def command(self, who: int, name: str, args: str) -> None:
        if name == "slots":
            words = args.split()
            if words and words[0].lower() == "add":
                await self.add(who, words[1:])
            elif len(words) == 2 and words[0].lower() == "remove":
                await self.remove(who, words[1])
            elif words:
                await self._say(who, "booking.counselor.slots_usage")
            else:
                await self.list(who)
        else:
            await self.act(who, name, args)

    async def _say(self, who: int, key: str, **params: object) -> None:
        await self.desk.deliver([Outgoing(who, self.desk.render(key, **params))])

    async def add(self, who: int, words: list[str]) -> None:
        if len(words) < 4 or small_number(words[2]) is None:
            await self._say(who, "booking.counselor.slots_usage")
            return
        try:
            naive = datetime.strptime(f"{words[0]} {words[1]}", "%Y-%m-%d %H:%M")
        except ValueError:
            await self._say(who, "booking.counselor.slots_usage")
            return
        start = naive.replace(tzinfo=self.desk.hours.zone)
        place = " ".join(words[3:]).strip()
        location = vocab.ONLINE if place.lower() == vocab.ONLINE else place
        now = self.desk.now()
        new = vocab.Slot(0, who, start, small_number(words[2]) or 0, location)
        async with self.desk.store.unit() as s:
            existing = [as_slot(r) for r in await booking_repo.slots_of(s, who, now - timedelta(days=1))]
            problem = rules.validate_slot(new, existing, now)
            if problem is None:
                row = await booking_repo.add_slot(s, who, start, new.minutes, location, now)
                params = {"id": row.id, **self.bookings.params(vocab.slot_params(as_slot(row)))}
        if problem is not None:
            await self._say(who, f"booking.slot_problem.{problem.value}")
        else:
            await self._say(who, "booking.counselor.slot_added", **params)

    async def remove(self, who: int, word: str) -> None:
        number = small_number(word.lstrip("#"))
        if number is None:
            await self._say(who, "booking.counselor.slots_usage")
            return
        async with self.desk.store.unit() as s:
            removed = await booking_repo.remove_free_slot(s, number, who, self.desk.now())
            row = None if removed else await s.get(SlotRow, number)
        if removed:
            await self._say(who, "booking.counselor.slot_removed", id=number)
        elif row is not None and row.counselor_id == who and row.booking_id is not None:
            await self._say(who, "booking.counselor.slot_taken", id=number, booking=row.booking_id)
        else:
            await self._say(who, "booking.counselor.slot_not_found", id=number)

    async def list(self, who: int) -> None:
        desk = self.desk
        texts = desk.texts
        async with desk.store.unit() as s:
            rows = await booking_repo.slots_of(s, who, desk.now())
            lines = []
            for row in rows:
                held = await s.get(BookingRow, row.booking_id) if row.booking_id else None
                status = (
                    desk.render(
                        "booking.counselor.slot_held",
                        booking=held.id,
                        state=texts.get(f"booking.counselor.state.{held.state}"),
                    )
                    if held is not None
                    else texts.get("booking.counselor.slot_free")
                )
                params = self.bookings.params(vocab.slot_params(as_slot(row)))
                lines.append(desk.render("booking.counselor.slot_line", id=row.id, status=status, **params))
        if not lines:
            await self._say(who, "booking.counselor.slots_none")
            return
        text = "\n".join([texts.get("booking.counselor.slots_header"), *lines])
        await desk.deliver([Outgoing(who, text)])

    async def act(self, who: int, name: str, args: str) -> None:
        """``/decline ID reason`` and ``/cancelbooking ID reason`` (the reason is optional)."""
        booking_id, _, reason = args.strip().partition(" ")
        number = small_number(booking_id.lstrip("#"))
        if number is None:
            await self._say(who, "booking.counselor.action_usage")
            return
        event = vocab.Decline(reason.strip()) if name == "decline" else vocab.CounselorCancel(reason.strip())
        await self.bookings.run(number, Party(counselor_id=who), event)

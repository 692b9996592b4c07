"""The group commit under the outbox: items added while a record runs go together in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hotline.loops import GroupCommit, Grouped


class Recorder:
    def __init__(self, fail_on: int | None = None, failures: int = 1_000) -> None:
        self.groups: list[list[int]] = []
        self.fail_on, self.failures = fail_on, failures
        self.release = asyncio.Event()

    async def record(self, items: Sequence[int]) -> list[str]:
        self.groups.append(list(items))
        await self.release.wait()
        if self.fail_on is not None and self.fail_on in items and self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database went away")
        return [f"done {i}" for i in items]


async def test_items_added_during_a_record_go_together_in_the_next() -> None:
    recorder = Recorder()
    marks: GroupCommit[int, str] = GroupCommit(recorder.record)
    marks.add(1)
    await asyncio.sleep(0)  # the first record starts with item 1 alone
    for item in (2, 3, 4):
        marks.add(item)
    recorder.release.set()
    assert await marks.settle() == ["done 1", "done 2", "done 3", "done 4"]
    assert recorder.groups == [[1], [2, 3, 4]]
    assert marks.count == 4 and not marks.failed


async def test_a_failed_record_stops_recording_and_settle_raises_it() -> None:
    recorder = Recorder(fail_on=1)
    marks: GroupCommit[int, str] = GroupCommit(recorder.record, retries=2, retry_wait=0)
    marks.add(1)
    await asyncio.sleep(0)
    marks.add(2)
    recorder.release.set()
    with pytest.raises(RuntimeError, match="database went away"):
        await marks.settle()
    assert marks.failed and marks.count == 0
    marks.add(3)  # nothing more is recorded once it failed
    await asyncio.sleep(0)
    assert recorder.groups == [[1], [1], [1]], "tried three times"


async def test_a_record_that_fails_once_is_tried_again() -> None:
    recorder = Recorder(fail_on=1, failures=1)
    recorder.release.set()
    marks: GroupCommit[int, str] = GroupCommit(recorder.record, retry_wait=0)
    marks.add(1)
    assert await marks.settle() == ["done 1"]
    assert recorder.groups == [[1], [1]] and marks.count == 1 and not marks.failed


async def test_settle_with_nothing_added_returns_nothing() -> None:
    marks: GroupCommit[int, str] = GroupCommit(Recorder().record)
    assert await marks.settle() == []


async def test_grouped_work_waits_for_its_own_group_and_a_failure_stays_in_its_group() -> None:
    recorder = Recorder(fail_on=2, failures=1)

    async def record(items: Sequence[int]) -> None:
        await recorder.record(items)

    grouped: Grouped[int] = Grouped(record)
    first = asyncio.create_task(grouped.do(1))
    await asyncio.sleep(0)  # the first group's transaction starts with item 1 alone
    rest = [asyncio.create_task(grouped.do(i)) for i in (2, 3)]
    recorder.release.set()
    await first
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert recorder.groups == [[1], [2, 3]]
    assert [type(r).__name__ for r in results] == ["RuntimeError", "RuntimeError"]
    await grouped.do(4)  # the failure stopped nothing
    assert recorder.groups[-1] == [4] and grouped.groups == 3


async def test_wait_returns_once_an_item_its_caller_gave_up_on_is_recorded() -> None:
    """At shutdown the desk waits for what is still being recorded before the store closes (a group cut
    off mid-commit when the event loop ends logged a traceback from the pool)."""
    started, release = asyncio.Event(), asyncio.Event()
    recorded: list[int] = []

    async def record(items: Sequence[int]) -> None:
        started.set()
        await release.wait()
        recorded.extend(items)

    grouped: Grouped[int] = Grouped(record)
    caller = asyncio.get_running_loop().create_task(grouped.do(1))
    await asyncio.wait_for(started.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    waiter = asyncio.get_running_loop().create_task(grouped.wait())
    release.set()
    await asyncio.wait_for(waiter, 5)
    assert recorded == [1]

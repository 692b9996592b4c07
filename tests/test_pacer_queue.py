"""The pacer's one asker a process (``hotline/pacing.py``): while the bot's bucket is empty, a process's
waiting messages do not each ask again when their wait ends; a message whose chat has no token does not
hold up the others; the bot's next token goes to an alert, then to a crisis message, then to the rest.

On real time (the loop's clock and the budget's are both ``time.monotonic``), with fast buckets so that a
test takes a fraction of a second."""

from __future__ import annotations

import asyncio

from hotline.pacing import Limits, MemoryBudget, Pacer, Rate, Wait, urgent


class Counting(MemoryBudget):
    """The budget, recording each ask and its answer."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits)
        self.answers: list[tuple[str, Wait]] = []

    async def take(self, chat_key: str, urgent: bool, alert: bool = False) -> Wait:
        wait = await super().take(chat_key, urgent, alert)
        self.answers.append((chat_key, wait))
        return wait


async def send(
    pacer: Pacer, chat: int, order: list[int], *, crisis: bool = False, alert: bool = False
) -> None:
    if crisis:
        with urgent(alert=alert):
            await pacer.acquire(chat)
    else:
        await pacer.acquire(chat)
    order.append(chat)


async def test_while_the_bots_bucket_is_empty_only_one_message_asks_again() -> None:
    budget = Counting(Limits(bot=Rate.of(100, 1), chat=Rate.of(1, 1)))
    pacer = Pacer(budget)
    order: list[int] = []
    await asyncio.wait_for(asyncio.gather(*(send(pacer, chat, order) for chat in range(40))), 10)
    assert sorted(order) == list(range(40)), "each message once"
    refused = [wait for _chat, wait in budget.answers if wait > 0]
    # 40 messages, 39 of them waiting for the bot's one token in turn: one refusal or so each at most
    # (each waiting message asking at every slot would be 39 + 38 + ... refusals, about 780).
    assert len(refused) <= 40, f"{len(refused)} refusals for 40 messages"
    assert all(wait.chat == 0 for wait in refused), "every chat had its token: only the bot's bucket refused"
    assert pacer.asks == len(budget.answers)


async def test_a_message_whose_chat_has_no_token_does_not_hold_up_other_chats() -> None:
    budget = Counting(Limits(bot=Rate.of(1000, 1), chat=Rate.of(1, 1)))
    pacer = Pacer(budget)
    order: list[int] = []
    await pacer.acquire(7)  # chat 7's token for this second is taken
    loop = asyncio.get_running_loop()
    started = loop.time()
    second_to_7 = asyncio.create_task(send(pacer, 7, order))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*(send(pacer, chat, order) for chat in (1, 2, 3))), 0.5)
    assert order == [1, 2, 3] and loop.time() - started < 0.5, "the others went while chat 7 waited"
    await asyncio.wait_for(second_to_7, 2)
    assert order[-1] == 7
    refusals = [wait for chat, wait in budget.answers if chat == "7" and wait > 0]
    assert len(refusals) == 1 and refusals[0].chat > 0.5, "refused by its chat's bucket, asked again once"


async def test_the_bots_next_token_goes_to_an_alert_then_a_crisis_then_the_rest() -> None:
    budget = Counting(Limits(bot=Rate.of(20, 1), chat=Rate.of(1, 1)))
    pacer = Pacer(budget)
    order: list[int] = []
    await pacer.acquire(99)  # the bot's one token taken: everything below waits for the next
    ordinary = [asyncio.create_task(send(pacer, chat, order)) for chat in range(10)]
    await asyncio.sleep(0)
    crisis = asyncio.create_task(send(pacer, 100, order, crisis=True))
    alert = asyncio.create_task(send(pacer, 200, order, crisis=True, alert=True))
    await asyncio.wait_for(asyncio.gather(*ordinary, crisis, alert), 5)
    assert order[:2] == [200, 100], order
    assert order[2:] == list(range(10)), "the rest by arrival"


async def test_a_cancelled_wait_leaves_nothing_behind_and_is_not_lost() -> None:
    """A waiting message whose sender gives up (its task cancelled just as another chat's arrival wakes it,
    0 to 4 loop turns later) does not take a token, leaves no entry in any queue, and holds nobody up.
    (With ``asyncio.wait_for`` as the wait, Python 3.11 lost some of these cancellations.)"""
    for turns in range(5):
        pacer = Pacer(MemoryBudget(Limits(bot=Rate.of(2, 1), chat=Rate.of(100, 1))))
        await pacer.acquire(1)  # the bot's one token taken
        given_up = asyncio.create_task(pacer.acquire(2))  # refused by the bot's bucket: waits, first in line
        await asyncio.sleep(0.05)
        other = asyncio.create_task(pacer.acquire(3))  # arrives: wakes the queue
        for _ in range(turns):
            await asyncio.sleep(0)
        given_up.cancel()
        outcome = await asyncio.gather(given_up, return_exceptions=True)
        assert isinstance(outcome[0], asyncio.CancelledError), f"{turns} turns: the cancellation was lost"
        await asyncio.wait_for(other, 2)  # the next in line goes
        assert pacer._asking == [] and pacer._lanes == {} and not pacer._asked

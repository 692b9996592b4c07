"""LINE Messaging API emulator: a local stand-in for api.line.me and LINE's webhook sender, with a
driver for tests and demos.

The real line-bot-sdk (v3) works against it unchanged::

    async with LineEmulator(webhook_url="http://127.0.0.1:8080/callback") as emu:
        config = Configuration(host=emu.api_url, access_token=emu.access_token)
        parser = WebhookParser(emu.channel_secret)          # verifies emu's X-Line-Signature
        mei = emu.user("小美")                              # a friend of the account
        said = await emu.send_text(mei, "你好")              # a signed message event to the webhook
        reply = await emu.wait_for_reply(mei, since=said)   # the reply (or push) the bot sent her
        await emu.tap(mei, "心理健康")                       # a quick reply / template button she got

Every API call is recorded (``calls``, with ``time.monotonic()`` stamps) and every event with its
delivery attempts (``events``). An event the webhook does not answer 2xx is redelivered with
``deliveryContext.isRedelivery = true`` (``redelivery``; ``redeliver`` does it on demand). Reply tokens
are single-use and expire ``reply_token_lifetime`` seconds (of ``clock``) after their event.
Faults: ``fail_next`` (status, LINE's body), ``drop_deliveries`` (events lost on the way),
``set_push_quota`` (429 monthly limit), ``expire_reply_tokens``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Self

from aiohttp import ClientSession, TCPConnector, web

from . import line_events as ev
from .line_http import Hold, LineApiServer
from .line_model import (
    JSON,
    Chat,
    DeliveryAttempt,
    LineCall,
    LineEvent,
    LineGroup,
    LineUser,
    Received,
    chat_id_of,
    default_error_message,
    new_id,
    sign,
)
from .line_state import CallPredicate, ChannelState, Fault
from .line_webhook import WebhookDeliveries, WebhookSender

DEFAULT_CHANNEL_SECRET = "sandbox-line-channel-secret"
DEFAULT_ACCESS_TOKEN = "sandbox-line-channel-access-token"
Since = int | LineEvent | None


class LineEmulator:
    """One emulated LINE channel: the API on ``host:port`` (port 0 picks a free one) plus its driver.

    All methods must be used from the event loop the emulator runs on.
    """

    def __init__(
        self,
        *,
        channel_secret: str = DEFAULT_CHANNEL_SECRET,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        webhook_url: str | None = None,
        bot_name: str = "7858 請幫我吧",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        reply_token_lifetime: float = 60.0,
        redelivery: bool = True,
        redelivery_delay: float = 0.2,
        max_redeliveries: int = 5,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.channel_secret = channel_secret
        self.access_token = access_token
        self.bot_user_id = new_id("U")
        self.bot_name = bot_name
        self.redelivery = redelivery
        self.redelivery_delay = redelivery_delay
        self.max_redeliveries = max_redeliveries
        self._host, self._port = host, port
        self._clock = clock
        self._webhook_timeout = webhook_timeout
        self._state = ChannelState(clock, reply_token_lifetime)
        self._server = LineApiServer(self._state, lambda: self.access_token, self._bot_info)
        self._server.webhook_url = webhook_url
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._deliveries: WebhookDeliveries | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> Self:
        runner = web.AppRunner(self._server.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, self._host, self._port).start()
        self._port = int(runner.addresses[0][1])
        self._session = ClientSession(connector=TCPConnector(limit=0))
        sender = WebhookSender(
            self._session, lambda: self.channel_secret, self.bot_user_id, self._webhook_timeout
        )
        self._deliveries = WebhookDeliveries(sender, self)
        return self

    async def close(self) -> None:
        if self._deliveries is not None:
            await self._deliveries.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT``: ``Configuration(host=...)`` (``HOTLINE_LINE_API_URL``)."""
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def webhook_url(self) -> str | None:
        """Where events go; also set by the bot through ``PUT /v2/bot/channel/webhook/endpoint``."""
        return self._server.webhook_url

    def set_webhook(self, url: str | None) -> None:
        self._server.webhook_url = url

    def _bot_info(self) -> JSON:
        return {
            "userId": self.bot_user_id,
            "basicId": "@000hotline",
            "displayName": self.bot_name,
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }

    # -- the world -------------------------------------------------------------------------------
    def user(
        self, display_name: str = "測試", *, user_id: str | None = None, friend: bool = True
    ) -> LineUser:
        """A LINE user; ``friend`` (default) means they already added the account (no follow event)."""
        user = LineUser(user_id or new_id("U"), display_name)
        self._state.users[user.user_id] = user
        if friend:
            self._state.followers.add(user.user_id)
        return user

    def group(self, *members: LineUser) -> LineGroup:
        """A group chat (``C...``) the account is in, with these members."""
        group = LineGroup(new_id("C"), "group", members)
        self._state.groups[group.chat_id] = group
        return group

    def room(self, *members: LineUser) -> LineGroup:
        """A multi-person chat (``R...``) the account is in."""
        room = LineGroup(new_id("R"), "room", members)
        self._state.groups[room.chat_id] = room
        return room

    # -- driving: events to the webhook ----------------------------------------------------------
    def _emit(
        self, kind: str, chat: Chat, user: LineUser | None, extra: JSON, *, reply: bool = True
    ) -> LineEvent:
        payload = ev.common(kind, chat, user, self._clock())
        if reply:
            payload["replyToken"] = self._state.issue_reply_token(chat.chat_id)
        payload.update(extra)
        return self.inject(payload, chat, user)

    def inject(self, payload: JSON, chat: Chat, user: LineUser | None = None) -> LineEvent:
        """Escape hatch: deliver any event object (``deliveryContext`` is added per delivery)."""
        event = LineEvent(payload, chat.chat_id, user, mark=len(self._state.calls), at=time.monotonic())
        self._state.events.append(event)
        self._hooks().start(event)
        return event

    def send_text(self, user: LineUser, text: str, *, chat: LineGroup | None = None) -> LineEvent:
        """``user`` writes ``text`` to the account (or in ``chat``, a group or room): a message event."""
        return self._emit("message", chat or user, user, {"message": ev.text_content(text)})

    def send_sticker(
        self,
        user: LineUser,
        package_id: str = "446",
        sticker_id: str = "1988",
        *,
        chat: LineGroup | None = None,
    ) -> LineEvent:
        return self._emit(
            "message", chat or user, user, {"message": ev.sticker_content(package_id, sticker_id)}
        )

    def send_image(self, user: LineUser, *, chat: LineGroup | None = None) -> LineEvent:
        return self._emit("message", chat or user, user, {"message": ev.image_content()})

    def postback(
        self,
        user: LineUser,
        data: str,
        *,
        params: dict[str, str] | None = None,
        chat: LineGroup | None = None,
    ) -> LineEvent:
        """``user`` taps a button whose action is ``postback`` with ``data``: a postback event."""
        return self._emit("postback", chat or user, user, ev.postback_body(data, params))

    def tap(self, user: LineUser, label: str, *, chat: LineGroup | None = None) -> LineEvent:
        """``user`` taps the quick-reply item or template button ``label`` of the latest message that has
        one (in their chat with the account, or in ``chat``): a postback event for a postback action, a
        text message event for a message action."""
        for received in reversed(self.received(chat or user)):
            for action in received.actions():
                if action.get("label") != label:
                    continue
                if action.get("type") == "postback":
                    return self.postback(user, str(action["data"]), chat=chat)
                if action.get("type") == "message":
                    return self.send_text(user, str(action["text"]), chat=chat)
                raise ValueError(f"tapping a {action.get('type')!r} action is not emulated")
        labels = [lbl for r in self.received(chat or user) for lbl in r.labels]
        raise LookupError(f"no action labelled {label!r} in {chat_id_of(chat or user)}; labels: {labels}")

    def follow(self, user: LineUser, *, unblocked: bool = False) -> LineEvent:
        """``user`` adds the account as a friend (``unblocked``: they had blocked it): a follow event."""
        self._state.followers.add(user.user_id)
        self._state.blocked.discard(user.user_id)
        return self._emit("follow", user, user, ev.follow_body(unblocked))

    def unfollow(self, user: LineUser) -> LineEvent:
        """``user`` blocks the account: an unfollow event; later sends to them are accepted, never shown."""
        self._state.followers.discard(user.user_id)
        self._state.blocked.add(user.user_id)
        return self._emit("unfollow", user, user, {}, reply=False)

    def join(self, chat: LineGroup) -> LineEvent:
        """The account is added to a group or room: a join event (source without ``userId``)."""
        return self._emit("join", chat, None, {})

    def leave(self, chat: LineGroup) -> LineEvent:
        return self._emit("leave", chat, None, {}, reply=False)

    def member_joined(self, chat: LineGroup, *users: LineUser) -> LineEvent:
        return self._emit("memberJoined", chat, None, ev.members_body(users, "joined"))

    async def redeliver(self, event: LineEvent) -> DeliveryAttempt:
        """Deliver ``event`` once more now, marked ``isRedelivery`` (same id, same reply token)."""
        return await self._hooks().redeliver(event)

    async def wait_delivered(
        self, event: LineEvent, *, attempts: int = 1, timeout: float = 5.0
    ) -> DeliveryAttempt:
        """The ``attempts``-th delivery attempt of ``event`` (waiting for it), e.g. to see its status."""
        return await self._hooks().wait_delivered(event, attempts, timeout)

    def sign(self, body: bytes) -> str:
        """The ``X-Line-Signature`` LINE would put on ``body``."""
        return sign(self.channel_secret, body)

    async def post_raw(self, body: bytes, signature: str | None) -> int | None:
        """POST ``body`` to the webhook with this ``X-Line-Signature`` (None: without); its status."""
        return await self._hooks().post_raw(body, signature)

    def _hooks(self) -> WebhookDeliveries:
        if self._deliveries is None:
            raise RuntimeError("the emulator is not started")
        return self._deliveries

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(
        self,
        endpoint: str = "*",
        *,
        status: int = 500,
        message: str | None = None,
        details: Sequence[JSON] = (),
        times: int = 1,
        to: Chat | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``endpoint`` ("reply", "push", "profile", ... or "*"), to
        ``to`` only when given, with ``status`` and LINE's body for it (429: the rate-limit message)."""
        fault = Fault(
            status, message or default_error_message(status), tuple(details), chat_id_of(to) if to else None
        )
        self._state.add_fault(endpoint, fault, times)

    def hold_next(self, endpoint: str = "*", *, to: Chat | str | None = None) -> Hold:
        """Keep the next call of ``endpoint`` (to ``to`` when given) waiting until the hold is released
        (a worker can be stopped with the call in hand; a call whose client is gone by then is dropped)."""
        hold = Hold(endpoint, chat_id_of(to) if to else None)
        self._server.holds.append(hold)
        return hold

    def drop_deliveries(self, times: int = 1) -> None:
        """The next ``times`` webhook deliveries are lost (not sent, not redelivered; see ``redeliver``)."""
        self._hooks().drops += times

    def set_push_quota(self, messages: int | None) -> None:
        """Messages left this month: push beyond it answers 429 "You have reached your monthly limit."."""
        self._state.push_quota = messages

    def expire_reply_tokens(self) -> None:
        """Every reply token issued so far expires now (as if its lifetime had passed)."""
        for token in self._state.reply_tokens.values():
            token.issued = float("-inf")

    def reply_token_valid(self, token: str) -> bool:
        return self._state.reply_target(token) is not None

    # -- inspection ------------------------------------------------------------------------------
    @property
    def calls(self) -> Sequence[LineCall]:
        """Every API call answered so far, in order."""
        return self._state.calls

    @property
    def events(self) -> Sequence[LineEvent]:
        """Every event made so far, with its delivery attempts."""
        return self._state.events

    def mark(self) -> int:
        """A cursor into ``calls``: pass as ``since=`` to look only at later calls."""
        return len(self._state.calls)

    def received(self, chat: Chat | str) -> list[Received]:
        """Messages the chat (user, group or room) got from the account, oldest first (not while blocked)."""
        return list(self._state.received.get(chat_id_of(chat), []))

    def texts(self, chat: Chat | str) -> list[str]:
        return [r.text for r in self.received(chat) if r.text is not None]

    def is_friend(self, user: LineUser) -> bool:
        return user.user_id in self._state.followers

    async def wait_for_all(
        self,
        predicate: CallPredicate | None,
        count: int,
        *,
        endpoint: str | None = None,
        to: Chat | str | None = None,
        since: Since = None,
        timeout: float = 5.0,
    ) -> list[LineCall]:
        """The first ``count`` calls after ``since`` (a ``mark()``, an event, or None: the latest event)
        matching ``predicate``, ``endpoint`` and ``to``; calls already made count. ``TimeoutError`` lists
        the calls seen."""
        target = chat_id_of(to) if to is not None else None

        def matches(call: LineCall) -> bool:
            return (
                (endpoint is None or call.endpoint == endpoint)
                and (target is None or call.to == target)
                and (predicate is None or predicate(call))
            )

        if since is None:
            since = self._state.events[-1].mark if self._state.events else 0
        start = since.mark if isinstance(since, LineEvent) else since
        return await self._state.wait(matches, count, start, timeout)

    async def wait_for(
        self,
        predicate: CallPredicate | None = None,
        *,
        endpoint: str | None = None,
        to: Chat | str | None = None,
        since: Since = None,
        timeout: float = 5.0,
    ) -> LineCall:
        found = await self.wait_for_all(predicate, 1, endpoint=endpoint, to=to, since=since, timeout=timeout)
        return found[0]

    async def wait_for_reply(
        self, chat: Chat | str, *, since: Since = None, timeout: float = 5.0
    ) -> LineCall:
        """The next successful reply or push to ``chat`` after ``since``."""
        return await self.wait_for(
            lambda c: c.ok and c.endpoint in ("reply", "push"), to=chat, since=since, timeout=timeout
        )

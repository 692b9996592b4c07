"""The LINE Messaging API emulator driven by the real line-bot-sdk v3: AsyncMessagingApi against its API,
WebhookParser checking its signed deliveries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    ButtonsTemplate,
    Configuration,
    ConfirmTemplate,
    MessageAction,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TemplateMessage,
    TextMessage,
)
from linebot.v3.webhooks import (
    FollowEvent,
    GroupSource,
    JoinEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    UnfollowEvent,
    UserSource,
)
from pydantic.v1 import ValidationError

from hotline.sandbox import LineEmulator, LineUser


@dataclass
class Webhook:
    """A bot's webhook: the SDK's WebhookParser on every request; answers ``statuses`` first, then 200."""

    parser: WebhookParser
    statuses: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    raw: list[tuple[bytes, str]] = field(default_factory=list)
    refused: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("X-Line-Signature", "")
        try:
            events = self.parser.parse(body.decode(), signature)
        except InvalidSignatureError:
            self.refused += 1
            return web.Response(status=400, text="bad signature")
        self.raw.append((body, signature))
        self.events.extend(events)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="OK")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def emu(clock: Clock) -> AsyncIterator[LineEmulator]:
    async with LineEmulator(clock=clock, reply_token_lifetime=30, redelivery_delay=0.01) as emulator:
        yield emulator


@pytest.fixture
async def hook(emu: LineEmulator) -> AsyncIterator[Webhook]:
    webhook = Webhook(WebhookParser(emu.channel_secret))
    app = web.Application()
    app.router.add_post("/callback", webhook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    emu.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/callback")
    yield webhook
    await runner.cleanup()


@pytest.fixture
async def api(emu: LineEmulator) -> AsyncIterator[AsyncMessagingApi]:
    async with AsyncApiClient(Configuration(host=emu.api_url, access_token=emu.access_token)) as client:
        yield AsyncMessagingApi(client)


async def said(emu: LineEmulator, hook: Webhook, event: Any) -> Any:
    """The SDK's parsed form of an emulator event, once the webhook accepted it."""
    await emu.wait_delivered(event)
    return next(e for e in reversed(hook.events) if e.webhook_event_id == event.webhook_event_id)


def error_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert isinstance(body, dict)
    return body


async def test_message_event_reply_with_quick_reply_and_tap(
    emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi
) -> None:
    mei = emu.user("小美")
    event = await said(emu, hook, emu.send_text(mei, "你好"))
    assert isinstance(event, MessageEvent) and isinstance(event.source, UserSource)
    assert (event.source.user_id, event.message.text, event.mode.value) == (mei.user_id, "你好", "active")
    assert event.delivery_context.is_redelivery is False and len(event.webhook_event_id) == 26
    items = [
        QuickReplyItem(action=PostbackAction(label="心理健康", data="area=5", display_text="心理健康")),
        QuickReplyItem(action=MessageAction(label="其他", text="我想說別的")),
    ]
    answer = await api.reply_message(
        ReplyMessageRequest(
            reply_token=event.reply_token,
            messages=[TextMessage(text="請選擇領域", quick_reply=QuickReply(items=items))],
        )
    )
    assert len(answer.sent_messages) == 1
    [got] = emu.received(mei)
    assert (got.text, got.via, got.labels) == ("請選擇領域", "reply", ["心理健康", "其他"])
    assert emu.calls[-1].to == mei.user_id and emu.calls[-1].endpoint == "reply"

    tapped = await said(emu, hook, emu.tap(mei, "心理健康"))
    assert isinstance(tapped, PostbackEvent) and tapped.postback.data == "area=5"
    typed = await said(emu, hook, emu.tap(mei, "其他"))
    assert isinstance(typed, MessageEvent) and typed.message.text == "我想說別的"
    with pytest.raises(LookupError, match="法律"):
        emu.tap(mei, "法律諮詢")


async def test_push_and_retry_key(emu: LineEmulator, api: AsyncMessagingApi) -> None:
    mei = emu.user("小美")
    request = PushMessageRequest(to=mei.user_id, messages=[TextMessage(text="諮商師回覆：你好")])
    key = "123e4567-e89b-12d3-a456-426614174000"
    await api.push_message(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as conflict:
        await api.push_message(request, x_line_retry_key=key)
    assert conflict.value.status == 409 and "sentMessages" in error_body(conflict.value)
    assert emu.texts(mei) == ["諮商師回覆：你好"]
    with pytest.raises(ApiException) as unknown:
        await api.push_message(PushMessageRequest(to="U" + "0" * 32, messages=[TextMessage(text="x")]))
    assert unknown.value.status == 400
    call = await emu.wait_for_reply(mei, since=0)
    assert call.endpoint == "push" and call.texts == ["諮商師回覆：你好"]


async def test_signature_checked_by_the_sdk(emu: LineEmulator, hook: Webhook) -> None:
    mei = emu.user("小美")
    await emu.wait_delivered(emu.send_text(mei, "你好"))
    body, signature = hook.raw[-1]
    assert signature == emu.sign(body)
    with pytest.raises(InvalidSignatureError):
        WebhookParser("another-channel-secret").parse(body.decode(), signature)
    forged = body.replace("你好".encode(), "你壞".encode())
    assert await emu.post_raw(forged, signature) == 400
    assert await emu.post_raw(body, None) == 400
    assert hook.refused == 2 and len(hook.events) == 1


async def test_reply_token_single_use_and_expiry(
    emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi, clock: Clock
) -> None:
    mei = emu.user("小美")
    first = await said(emu, hook, emu.send_text(mei, "一"))
    reply = ReplyMessageRequest(reply_token=first.reply_token, messages=[TextMessage(text="收到")])
    await api.reply_message(reply)
    with pytest.raises(ApiException) as reused:
        await api.reply_message(reply)
    assert reused.value.status == 400 and error_body(reused.value) == {"message": "Invalid reply token"}

    second = await said(emu, hook, emu.send_text(mei, "二"))
    clock.now += 31  # past the 30 s lifetime
    assert not emu.reply_token_valid(second.reply_token)
    with pytest.raises(ApiException) as expired:
        await api.reply_message(
            ReplyMessageRequest(reply_token=second.reply_token, messages=[TextMessage(text="晚了")])
        )
    assert expired.value.status == 400
    await api.push_message(PushMessageRequest(to=mei.user_id, messages=[TextMessage(text="改用推播")]))
    assert emu.texts(mei) == ["收到", "改用推播"]


async def test_limits_13_quick_replies_5_messages_5000_chars(
    emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi
) -> None:
    mei = emu.user("小美")
    tokens = [(await said(emu, hook, emu.send_text(mei, str(i)))).reply_token for i in range(4)]

    def items(n: int) -> QuickReply:
        return QuickReply(
            items=[QuickReplyItem(action=PostbackAction(label=f"選{i}", data=str(i))) for i in range(n)]
        )

    await api.reply_message(ReplyMessageRequest(reply_token=tokens[0], messages=[TextMessage(text="13", quick_reply=items(13))]))  # fmt: skip
    assert len(emu.received(mei)[-1].labels) == 13
    with pytest.raises(ValidationError):  # the SDK itself refuses 14 items and 6 messages
        QuickReply(items=[QuickReplyItem(action=PostbackAction(label="x", data="x"))] * 14)
    # sent anyway (built without validation), the emulator refuses as LINE does
    too_many = QuickReply.construct(items=[QuickReplyItem(action=PostbackAction(label="x", data="x"))] * 14)
    with pytest.raises(ApiException) as items_error:
        await api.reply_message(ReplyMessageRequest(reply_token=tokens[1], messages=[TextMessage(text="14", quick_reply=too_many)]))  # fmt: skip
    assert error_body(items_error.value) == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be between 1 and 13", "property": "messages[0].quickReply.items"}],
    }
    six = ReplyMessageRequest.construct(reply_token=tokens[1], messages=[TextMessage(text="m")] * 6)
    with pytest.raises(ApiException) as six_error:
        await api.reply_message(six)
    assert error_body(six_error.value)["details"][0]["property"] == "messages"
    await api.reply_message(ReplyMessageRequest(reply_token=tokens[1], messages=[TextMessage(text="m")] * 5))
    long = TextMessage(text="字" * 5001)
    with pytest.raises(ApiException) as long_error:
        await api.reply_message(ReplyMessageRequest(reply_token=tokens[2], messages=[long]))
    assert error_body(long_error.value)["details"] == [
        {"message": "Length must be between 1 and 5000", "property": "messages[0].text"}
    ]
    await api.reply_message(
        ReplyMessageRequest(reply_token=tokens[2], messages=[TextMessage(text="字" * 5000)])
    )
    assert len(emu.received(mei)) == 1 + 5 + 1  # refused requests deliver nothing


async def test_bad_token_401_and_rate_limit_429(emu: LineEmulator, api: AsyncMessagingApi) -> None:
    mei = emu.user("小美")
    push = PushMessageRequest(to=mei.user_id, messages=[TextMessage(text="hi")])
    async with AsyncApiClient(Configuration(host=emu.api_url, access_token="wrong")) as client:
        with pytest.raises(ApiException) as denied:
            await AsyncMessagingApi(client).push_message(push)
    assert denied.value.status == 401 and "access token" in error_body(denied.value)["message"]

    emu.fail_next("push", status=429, times=2, to=mei)
    for _ in range(2):
        with pytest.raises(ApiException) as limited:
            await api.push_message(push)
        assert limited.value.status == 429
        assert error_body(limited.value) == {
            "message": "The API rate limit has been exceeded. Try again later."
        }
    await api.push_message(push)
    assert [c.status for c in emu.calls] == [401, 429, 429, 200] and emu.calls[1].injected

    emu.set_push_quota(1)
    await api.push_message(push)
    with pytest.raises(ApiException) as monthly:
        await api.push_message(push)
    assert (
        monthly.value.status == 429
        and error_body(monthly.value)["message"] == "You have reached your monthly limit."
    )
    assert emu.texts(mei) == ["hi", "hi"]


async def test_redelivery_after_a_failed_delivery_and_on_demand(emu: LineEmulator, hook: Webhook) -> None:
    mei = emu.user("小美")
    hook.statuses = [500]
    event = emu.send_text(mei, "第一次")
    second = await emu.wait_delivered(event, attempts=2)
    assert [a.status for a in event.attempts] == [500, 200] and second.redelivery
    first, again = hook.events
    assert first.webhook_event_id == again.webhook_event_id == event.webhook_event_id
    assert (first.delivery_context.is_redelivery, again.delivery_context.is_redelivery) == (False, True)

    emu.drop_deliveries()
    lost = emu.send_text(mei, "遺失")
    assert (await emu.wait_delivered(lost)).failure == "dropped" and len(hook.events) == 2
    attempt = await emu.redeliver(lost)
    assert attempt.ok and attempt.redelivery and hook.events[-1].message.text == "遺失"
    assert hook.events[-1].delivery_context.is_redelivery is True


async def test_group_and_room_sources(emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi) -> None:
    mei, wang = emu.user("小美"), emu.user("老王")
    group, room = emu.group(mei, wang), emu.room(mei)
    joined = await said(emu, hook, emu.join(group))
    assert isinstance(joined, JoinEvent) and isinstance(joined.source, GroupSource)
    assert joined.source.group_id == group.chat_id and joined.source.user_id is None
    await api.reply_message(ReplyMessageRequest(reply_token=joined.reply_token, messages=[TextMessage(text="一對一服務")]))  # fmt: skip
    in_group = await said(emu, hook, emu.send_text(wang, "大家好", chat=group))
    assert isinstance(in_group.source, GroupSource) and in_group.source.user_id == wang.user_id
    in_room = await said(emu, hook, emu.send_text(mei, "哈囉", chat=room))
    assert isinstance(in_room.source, RoomSource) and in_room.source.room_id == room.chat_id
    await api.reply_message(ReplyMessageRequest(reply_token=in_room.reply_token, messages=[TextMessage(text="請私訊")]))  # fmt: skip
    assert emu.texts(group) == ["一對一服務"] and emu.texts(room) == ["請私訊"] and emu.texts(mei) == []


async def test_follow_unfollow_and_blocked_pushes(
    emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi
) -> None:
    mei: LineUser = emu.user("小美", friend=False)
    followed = await said(emu, hook, emu.follow(mei))
    assert isinstance(followed, FollowEvent) and followed.follow.is_unblocked is False
    assert (await api.get_profile(mei.user_id)).display_name == "小美"
    gone = await said(emu, hook, emu.unfollow(mei))
    assert isinstance(gone, UnfollowEvent) and not emu.is_friend(mei)
    await api.push_message(PushMessageRequest(to=mei.user_id, messages=[TextMessage(text="看不到")]))
    assert emu.received(mei) == []  # accepted, as LINE does, but never shown
    with pytest.raises(ApiException) as no_profile:
        await api.get_profile(mei.user_id)
    assert no_profile.value.status == 404
    back = await said(emu, hook, emu.follow(mei, unblocked=True))
    assert back.follow.is_unblocked is True and emu.is_friend(mei)


async def test_template_buttons_tap_and_bad_confirm(
    emu: LineEmulator, hook: Webhook, api: AsyncMessagingApi
) -> None:
    mei = emu.user("小美")
    buttons = TemplateMessage(
        alt_text="預約",
        template=ButtonsTemplate(text="要預約嗎？", actions=[PostbackAction(label="預約", data="book=yes")]),
    )
    await api.push_message(PushMessageRequest(to=mei.user_id, messages=[buttons]))
    tapped = await said(emu, hook, emu.tap(mei, "預約"))
    assert isinstance(tapped, PostbackEvent) and tapped.postback.data == "book=yes"
    three = [MessageAction(label=str(i), text=str(i)) for i in range(3)]
    confirm = TemplateMessage(alt_text="確認", template=ConfirmTemplate(text="確定？", actions=three))
    with pytest.raises(ApiException) as refused:
        await api.push_message(PushMessageRequest(to=mei.user_id, messages=[confirm]))
    assert error_body(refused.value)["details"] == [
        {"message": "Size must be between 2 and 2", "property": "messages[0].template.actions"}
    ]
    assert emu.texts(mei) == ["預約"]

"""LINE's limits in what the adapter builds, and the identity a LINE pseudonym is made of (key rotation)."""

from __future__ import annotations

import socket

import pytest
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from hotline.errors import ChatUnavailable
from hotline.line.send import MAX_TEXT, LineEmployees, messages_for, split_text
from hotline.ports import Recipient
from hotline.privacy.rotate import identity_of


def test_long_text_is_split_within_5000_characters_and_nothing_is_lost() -> None:
    text = "\n".join(f"第 {i} 行：" + "字" * 90 for i in range(200))
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts) == text
    assert split_text("短") == ["短"]


def test_choices_become_postback_quick_replies_on_the_last_message_within_limits() -> None:
    rows = [[("一" * 25, "area:legal"), ("職涯規劃", "area:career")]]
    messages = messages_for("請選擇" + "。" * 6000, rows)
    assert len(messages) == 2 and "quickReply" not in messages[0]
    items = messages[-1]["quickReply"]["items"]
    assert [i["action"]["label"] for i in items] == ["一" * 20, "職涯規劃"]
    assert [i["action"]["data"] for i in items] == ["area:legal", "area:career"]
    with pytest.raises(ValueError, match="13"):
        messages_for("太多", [[(f"選項{i}", f"x:{i}") for i in range(14)]])
    with pytest.raises(ValueError, match="300"):
        messages_for("太長", [[("選項", "x" * 301)]])


def test_the_messages_are_the_json_the_sdks_models_make() -> None:
    """The adapter builds LINE's JSON itself (the SDK's request models cost most of a reply): the same
    objects as the SDK's ``TextMessage`` with its quick reply of postback actions."""
    rows = [[("我了解，開始", "consent:accept"), ("不用了", "consent:decline")], [("一" * 25, "area:legal")]]
    for text, choices in (("您好\n請選擇", rows), ("只有文字", []), ("長" * 5001, rows)):
        parts = split_text(text)
        quick = QuickReply(
            items=[
                QuickReplyItem(action=PostbackAction(label=label[:20], data=data, display_text=label))
                for row in choices
                for label, data in row
            ]
        )
        sdk = [
            TextMessage(text=part, quick_reply=quick if choices and i == len(parts) - 1 else None).to_dict()
            for i, part in enumerate(parts)
        ]
        assert messages_for(text, choices) == sdk


def test_a_line_pseudonym_is_made_of_the_user_id_itself() -> None:
    assert identity_of("line", "U0123456789abcdef0123456789abcdef") == "U0123456789abcdef0123456789abcdef"
    assert identity_of("telegram", "42") == "42"


async def test_a_line_api_that_does_not_answer_is_one_clear_error_not_a_crash() -> None:
    """Reply then push to a LINE API that is not there: the adapter raises ChatUnavailable (which the desk
    handles, so the alerts after a crisis reply still go out), never the SDK's raw aiohttp error."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AsyncApiClient(Configuration(host=f"http://127.0.0.1:{port}", access_token="token"))
    try:

        async def following(_pseudonym: str) -> bool:
            return False

        api = AsyncMessagingApi(client)
        employees = LineEmployees(api, lambda u: f"p-{u}", 50.0, following, clock=lambda: 0.0)
        employees.offer_reply_token("U1", "reply-token", issued=0.0)
        with pytest.raises(ChatUnavailable, match="did not answer"):
            await employees.send_text(Recipient("line", "U1"), "我們在這裡，請撥 1925")
    finally:
        await client.close()


async def test_the_line_client_does_not_read_the_environment_on_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """line-bot-sdk's session trusts the environment (a proxy and ~/.netrc looked up in a thread per
    request); the service's does not, and the proxy resolved at start goes to the SDK instead."""
    from pydantic import SecretStr

    from hotline.app_line import line_client
    from hotline.settings import Settings

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.office.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = Settings.model_construct(
        line_api_url="https://api.line.me", line_channel_access_token=SecretStr("token")
    )
    client = await line_client(settings)
    try:
        assert client.rest_client.pool_manager.trust_env is False
        assert client.rest_client.proxy == "http://proxy.office.example:3128"
    finally:
        await client.close()

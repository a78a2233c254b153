"""Channels against local stand-ins that verify signatures the way the real services do."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.notify.chain import RetryPolicy, send_with_failover
from server.notify.channels import build_channel
from server.notify.log import NotificationLog
from server.notify.models import ChannelKind, ChannelSpec, Notification, SendStatus
from server.storage.db import Database
from tests.fakes.chatbots import ChatBots
from tests.fakes.tc3_server import FakeTc3Server

NOTE = Notification(
    case_id=7,
    owner="alice",
    severity="P1",
    title="payment-svc 错误率升高",
    cause="10:02 ci-bot 修改了 ConfigMap payment-config",
    fix="恢复 payment-config 的上一版本",
    rung=2,
)
FAST = RetryPolicy(attempts=2, base_s=0.01)


@pytest.fixture
async def bots() -> AsyncIterator[tuple[ChatBots, str]]:
    fake = ChatBots()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def notes_log(tmp_path: Path) -> NotificationLog:
    db = Database.sqlite(tmp_path / "n.sqlite3")
    db.create_all()
    return NotificationLog(db)


def _specs(base: str, fake: ChatBots) -> dict[ChannelKind, ChannelSpec]:
    return {
        ChannelKind.WECOM: ChannelSpec(
            name="wecom-ops", kind=ChannelKind.WECOM, url=f"{base}/cgi-bin/webhook/send?key={fake.wecom_key}"
        ),
        ChannelKind.FEISHU: ChannelSpec(
            name="feishu-ops",
            kind=ChannelKind.FEISHU,
            url=f"{base}/open-apis/bot/v2/hook/abc",
            secret=fake.feishu_secret,
        ),
        ChannelKind.DINGTALK: ChannelSpec(
            name="dingtalk-ops",
            kind=ChannelKind.DINGTALK,
            url=f"{base}/robot/send?access_token={fake.dingtalk_token}",
            secret=fake.dingtalk_secret,
        ),
        ChannelKind.WEBHOOK: ChannelSpec(name="hook", kind=ChannelKind.WEBHOOK, url=f"{base}/hook"),
    }


@pytest.mark.parametrize(
    "kind", [ChannelKind.WECOM, ChannelKind.FEISHU, ChannelKind.DINGTALK, ChannelKind.WEBHOOK]
)
async def test_each_chat_channel_delivers_cause_fix_case_and_how_to_acknowledge(bots, http, kind):
    fake, base = bots
    outcome = await build_channel(_specs(base, fake)[kind], http).send(NOTE)
    assert outcome.status is SendStatus.SENT, outcome.detail
    (text,) = fake.texts(kind.value)
    for must in ("#7", "ConfigMap payment-config", "恢复 payment-config", "收到", "cases ack 7"):
        assert must in text


@pytest.mark.parametrize("kind", [ChannelKind.FEISHU, ChannelKind.DINGTALK])
async def test_a_wrong_signing_secret_is_a_failure_although_the_answer_is_200(bots, http, kind):
    fake, base = bots
    spec = _specs(base, fake)[kind].model_copy(update={"secret": "not-the-secret"})
    outcome = await build_channel(spec, http).send(NOTE)
    assert outcome.status is SendStatus.FAILED and not outcome.retryable
    assert ("19021" if kind is ChannelKind.FEISHU else "310000") in outcome.detail
    assert fake.texts(kind.value) == [] and fake.refused


@pytest.mark.parametrize("kind", [ChannelKind.FEISHU, ChannelKind.DINGTALK, ChannelKind.WECOM])
async def test_an_error_in_a_200_body_fails_over_to_the_next_channel(bots, http, notes_log, kind):
    fake, base = bots
    specs = _specs(base, fake)
    fake.mode[kind.value] = "body_error"
    channels = [build_channel(specs[kind], http), build_channel(specs[ChannelKind.WEBHOOK], http)]
    outcomes = await send_with_failover(NOTE, channels, notes_log, FAST)
    assert [o.status for o in outcomes] == [SendStatus.FAILED, SendStatus.SENT]
    assert len(fake.texts("webhook")) == 1
    log = {e.channel: e.status for e in notes_log.entries(7)}
    assert log == {specs[kind].name: SendStatus.FAILED, "hook": SendStatus.SENT}


async def test_a_channel_that_is_down_is_retried_then_failed_over(bots, http, notes_log):
    fake, base = bots
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    down = ChannelSpec(name="down", kind=ChannelKind.WEBHOOK, url=dead)
    fake.mode["wecom"] = "http500"
    channels = [
        build_channel(down, http),
        build_channel(_specs(base, fake)[ChannelKind.WECOM], http),
        build_channel(_specs(base, fake)[ChannelKind.FEISHU], http),
    ]
    outcomes = await send_with_failover(NOTE, channels, notes_log, FAST)
    assert [(o.channel, o.status, o.attempts) for o in outcomes] == [
        ("down", SendStatus.FAILED, 2),
        ("wecom-ops", SendStatus.FAILED, 2),
        ("feishu-ops", SendStatus.SENT, 1),
    ]
    assert len(fake.texts("feishu")) == 1


async def test_a_rung_already_sent_is_not_sent_again(bots, http, notes_log):
    fake, base = bots
    channels = [build_channel(_specs(base, fake)[ChannelKind.WEBHOOK], http)]
    await send_with_failover(NOTE, channels, notes_log, FAST)
    again = await send_with_failover(NOTE, channels, notes_log, FAST)
    assert again[0].detail == "already sent"
    assert len(fake.texts("webhook")) == 1


async def test_wecom_text_is_clipped_to_its_byte_limit(bots, http):
    fake, base = bots
    long_note = Notification(case_id=1, owner="a", severity="P2", title="很长" * 900)
    outcome = await build_channel(_specs(base, fake)[ChannelKind.WECOM], http).send(long_note)
    assert outcome.status is SendStatus.SENT
    assert len(fake.texts("wecom")[0].encode()) <= 2048


def _sms_spec(server: FakeTc3Server, secret: str) -> ChannelSpec:
    return ChannelSpec(
        name="sms-oncall",
        kind=ChannelKind.SMS,
        url=f"http://{server.endpoint}",
        secret_id="AKIDsms0001",
        secret=secret,
        sdk_app_id="1400000000",
        sign_name="小智运维",
        template_id="100001",
        phone_numbers=["+8613800000000"],
    )


async def test_sms_goes_through_the_tencent_sdk_with_a_verified_tc3_signature(http):
    with FakeTc3Server(service="sms") as server:
        server.add_user("AKIDsms0001", "sms-secret-key")
        ok = await build_channel(_sms_spec(server, "sms-secret-key"), http).send(NOTE)
        bad = await build_channel(_sms_spec(server, "wrong-key"), http).send(NOTE)
    assert ok.status is SendStatus.SENT, ok.detail
    assert server.sms_sent[0]["PhoneNumberSet"] == ["+8613800000000"]
    assert server.sms_sent[0]["TemplateParamSet"][0] == "7"
    assert bad.status is SendStatus.FAILED and "AuthFailure" in bad.detail
    assert len(server.sms_sent) == 1


def test_incomplete_or_invalid_channels_are_refused_with_what_is_missing():
    with pytest.raises(ValueError, match="secret"):
        ChannelSpec(name="f", kind=ChannelKind.FEISHU, url="https://open.feishu.cn/x").check_complete()
    with pytest.raises(ValueError, match="phone_numbers"):
        ChannelSpec(
            name="s",
            kind=ChannelKind.SMS,
            secret_id="a",
            secret="b",
            sdk_app_id="1",
            sign_name="n",
            template_id="2",
        ).check_complete()
    with pytest.raises(ValueError, match=r"E\.164"):
        ChannelSpec(name="s", kind=ChannelKind.SMS, phone_numbers=["13800000000"])
    with pytest.raises(ValueError, match="https"):
        ChannelSpec(name="w", kind=ChannelKind.WEBHOOK, url="file:///etc/passwd")


def test_masked_view_shows_no_secret_or_full_url():
    spec = ChannelSpec(
        name="wecom-ops",
        kind=ChannelKind.WECOM,
        url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY",
    )
    shown = str(spec.masked())
    assert "SECRETKEY" not in shown and "qyapi.weixin.qq.com" in shown

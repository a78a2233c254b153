"""Issue 11.2: a second, different problem on a workload whose case is open (same alarm policy) is not folded away
silently: when its trace names another cause, it is recorded and spoken; the same cause again is not repeated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from server.alerts.service import AlertService
from server.alerts.tencent import parse_tencent
from server.cases.service import CaseService
from server.config import Settings
from server.delivery import AlertDelivery
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from tests.alerts.bodies import tke_pod_alarm


def _trace(cause: str, sentence: str) -> SimpleNamespace:
    return SimpleNamespace(found=True, cause=cause, root_cause_zh=sentence, fix_zh="", actionable=False)


async def test_another_cause_on_an_open_case_is_spoken_and_the_same_cause_is_not(tmp_path: Path, monkeypatch):
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", default_owner="alice")
    db = Database.sqlite(tmp_path / "ops.sqlite3")
    db.create_all()
    cases = CaseService(db)
    delivery = AlertDelivery(settings, DeviceRegistry(), cases, db)
    announced: list[list[str]] = []

    async def announce(owner: str, sentences: list[str], case_id: int | None, **_: Any) -> None:
        announced.append(sentences)

    traces = iter(
        [
            _trace("image_change", "ci-bot 在 10:02 把镜像改成了 v2.3.1"),  # the first alert
            _trace("image_change", "ci-bot 在 10:02 把镜像改成了 v2.3.1"),  # another pod, same cause
            _trace("secret_change", "alice 在 10:40 轮换了 Secret db-credentials"),  # a different problem
        ]
    )
    monkeypatch.setattr(delivery, "_trace", lambda owner, alert: next(traces))
    monkeypatch.setattr(delivery, "_spoken", lambda alert, result: [result.root_cause_zh])
    monkeypatch.setattr(delivery, "announce", announce)
    monkeypatch.setattr("server.delivery.RETRACE_EVERY_S", 0.0)
    service = AlertService(db, cases, on_new_case=delivery.on_new_case, on_new_child=delivery.on_new_child)
    await service.start()
    try:
        for i, pod in enumerate(["pay-gw-7d9f-a1", "pay-gw-7d9f-b2", "pay-gw-7d9f-c3"]):
            alert = parse_tencent(tke_pod_alarm(f"sid-{i}", workload="pay-gw", pod=pod), tz="Asia/Shanghai")
            assert await service.accept([alert], source="tencent", session_id=f"sid-{i}") == "accepted"
            await service.drain()
            for _ in range(20):
                await asyncio.sleep(0.02)
    finally:
        await service.stop()
    (case,) = cases.list_cases()  # one case: same workload, same policy
    assert [a[-1] for a in announced] == [
        "ci-bot 在 10:02 把镜像改成了 v2.3.1",
        "alice 在 10:40 轮换了 Secret db-credentials",
    ]
    assert "新的问题" in announced[1][0]
    notes = [e for e in cases.store.timeline(case.id) if e.actor == "tracer"]
    assert notes[-1].detail.get("new_cause") is True

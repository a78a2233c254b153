"""`xiaozhi-ops silences` and `channels` as a person types them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"XOPS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "XOPS_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_silence_add_list_expire_and_a_clear_error(tmp_path):
    added = _cli(tmp_path, "silences", "add", "--owner", "张三", "--for", "2h", "workload=order-api")
    assert added.returncode == 0 and "workload=order-api" in added.stdout
    assert "张三" in _cli(tmp_path, "silences", "list").stdout
    bad = _cli(tmp_path, "silences", "add", "--owner", "a", "--for", "2h", "workload=~(x")
    assert bad.returncode == 2 and "regex" in bad.stderr and "Traceback" not in bad.stderr
    no_time = _cli(tmp_path, "silences", "add", "--owner", "a")
    assert no_time.returncode == 2 and "--for" in no_time.stderr
    assert _cli(tmp_path, "silences", "expire", "1").returncode == 0
    assert "no silences" in _cli(tmp_path, "silences", "list").stdout


def test_channel_secret_goes_in_through_stdin_and_never_comes_out(tmp_path):
    secret_url = '{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=TOPSECRET42"}'
    added = _cli(tmp_path, "channels", "add", "ops", "--kind", "wecom", stdin=secret_url)
    assert added.returncode == 0, added.stderr
    listed = _cli(tmp_path, "channels", "list")
    assert "ops" in listed.stdout and "TOPSECRET42" not in listed.stdout + listed.stderr + added.stdout
    missing = _cli(tmp_path, "channels", "add", "f", "--kind", "feishu", stdin='{"url": "https://x.example"}')
    assert missing.returncode == 2 and "secret" in missing.stderr


def test_cases_ack_stops_escalation_and_is_on_the_timeline(tmp_path):
    from server.cases.service import CaseService
    from server.notify.escalation import AttentionStore
    from server.storage.db import Database

    db = Database.sqlite(tmp_path / "xiaozhi-ops.sqlite3")
    db.create_all()
    case = CaseService(db).create_case(owner="alice", title="order-api 5xx")
    db.dispose()
    acked = _cli(tmp_path, "cases", "ack", str(case.id))
    assert acked.returncode == 0 and "acknowledged by cli:" in acked.stdout
    assert "already" in _cli(tmp_path, "cases", "ack", str(case.id)).stdout
    assert _cli(tmp_path, "cases", "ack", "999").returncode == 1
    assert _cli(tmp_path, "cases", "snooze", str(case.id), "--minutes", "-1").returncode == 2
    db = Database.sqlite(tmp_path / "xiaozhi-ops.sqlite3")
    assert (AttentionStore(db).get(case.id).acked_by or "").startswith("cli:")
    assert "已确认" in _cli(tmp_path, "cases", "show", str(case.id)).stdout

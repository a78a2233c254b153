"""The newcomer's path through the CLI (issue 13, findings 6-9): `device say` on a long reply, `pipeline run
--source cos` with vaulted keys, `owners bind-keys` key templates with --prefix and --check, `--day`,
a closed pipe, partial masks, `serve --mcp-port`. The CLI runs in a subprocess with its own data dir."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.sample_day import generate_day
from server.cli import build_parser
from server.commands.days import DayError, resolve_day
from server.vault.store import mask
from tests.device.helpers import running_server
from tests.fakes.cos_server import FakeCosServer
from tests.paths import COMMANDS, REPO

SID, SKEY = "AKIDnewcomer0000000000000000001234", "newcomer-secret-key-000000000000abcd"
BUCKET = "ops-logs-1250000000"
TZ = ZoneInfo("Asia/Shanghai")


def cli(tmp: Path, *argv: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 240):
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "XOPS_DATA_DIR": str(tmp / "data"),
        "XOPS_RESULTS_DIR": str(tmp / "results"),
        "XOPS_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp,  # no .env from the repository
        env=environment,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# --------------------------------------------------------------------------- device say / play


def _run_device(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


async def test_a_reply_longer_than_the_timeout_is_waited_for_to_the_end(capsys) -> None:
    wav = COMMANDS / "long.wav"  # ~8 s of speech: the echo reply lasts as long
    async with running_server() as h:
        code = await asyncio.to_thread(
            _run_device, ["device", "play", str(wav), "--url", h.url, "--mode", "manual", "--timeout", "5"]
        )
    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[-1] == "assistant: echo"
    assert "error" not in err.lower()


async def test_max_reply_stops_cleanly_with_the_reason(capsys) -> None:
    wav = COMMANDS / "long.wav"
    async with running_server() as h:
        code = await asyncio.to_thread(
            _run_device,
            ["device", "play", str(wav), "--url", h.url, "--mode", "manual", "--max-reply", "1"],
        )
    out, err = capsys.readouterr()
    assert code == 0
    assert "assistant: echo" in out
    assert "stopped listening after 1 s of reply" in err and "error" not in err.lower()


async def test_no_reply_says_why_without_error_or_traceback(capsys) -> None:
    async with running_server() as h:  # auto mode: the test handler never answers plain audio
        code = await asyncio.to_thread(
            _run_device, ["device", "say", "ni3 hao3", "--url", h.url, "--timeout", "1"]
        )
    _, err = capsys.readouterr()
    assert code == 1
    assert "no reply within 1 s" in err and "Traceback" not in err and "Error" not in err


# --------------------------------------------------------------------------- owners bind-keys, pipeline --source cos


@pytest.fixture
def cos_day(tmp_path: Path):
    day = (datetime.now(TZ).date() - timedelta(days=1)).isoformat()
    gen = generate_day(
        tmp_path / "gen", day, lines=3000, seed=3, owner="alice", local=False, cos=True,
        cos_prefixes={"business": "cls/business", "event": "cls/k8s-event", "audit": "cls/k8s-audit"},
    )  # fmt: skip
    with FakeCosServer() as cos:
        cos.add_user(SID, SKEY)
        cos.add_bucket(BUCKET, [SID])
        assert cos.put_dir(BUCKET, gen.cos_dir) > 0
        yield cos, day, {"XOPS_COS_ENDPOINT": f"http://{cos.ip}:{cos.port}"}


def test_bind_keys_with_prefix_check_and_pipeline_run_from_cos(tmp_path: Path, cos_day) -> None:
    cos, day, env = cos_day
    assert cli(tmp_path, "owners", "add", "alice", env=env).returncode == 0
    keys = f"{SID}\n{SKEY}\n"
    base = ["owners", "bind-keys", "alice", "--region", "ap-guangzhou", "--bucket", BUCKET]

    # a wrong prefix: bound, but the check says clearly that nothing matches
    wrong = cli(tmp_path, *base, "--prefix", "logs/", "--check", "yesterday", stdin=keys, env=env)
    assert wrong.returncode == 1, wrong.stderr
    assert "NOTHING for this day" in wrong.stdout and "no business, k8s-event, k8s-audit logs" in wrong.stdout

    ok = cli(tmp_path, *base, "--prefix", "cls/", "--check", day, stdin=keys, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "bound keys for alice: AKID****1234" in ok.stdout and SKEY not in ok.stdout
    assert "k8s-event  cls/k8s-event/%Y/%m/%d/%H/" in ok.stdout
    for kind in ("business", "k8s-event", "k8s-audit"):
        line = next(ln for ln in ok.stdout.splitlines() if ln.strip().startswith(kind) and "objects" in ln)
        assert f"cls/{kind}/" in line

    listed = cli(tmp_path, "owners", "list", env=env)
    assert "AKID****1234" in listed.stdout and SID not in listed.stdout

    # pipeline run --source cos reads the bucket with the vaulted keys, as the service does
    before = len(cos.requests)
    run = cli(tmp_path, "pipeline", "run", "--owner", "alice", "--source", "cos", "--no-llm", "--quiet",
              "--day", "yesterday", env=env)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"alice {day}:" in run.stdout and "error" not in run.stderr.lower()
    gets = [r for r in cos.requests[before:] if r.method == "GET" and r.bucket == BUCKET]
    assert gets and all(r.secret_id == SID for r in gets)
    assert (tmp_path / "results" / day / "alice").is_dir()


def test_pipeline_cos_without_keys_names_the_fix(tmp_path: Path) -> None:
    assert cli(tmp_path, "owners", "add", "bob").returncode == 0
    result = cli(tmp_path, "pipeline", "run", "--owner", "bob", "--source", "cos")
    assert result.returncode == 2
    assert "owners bind-keys bob" in one_line_error(result)


BAD_TEMPLATES = [
    ("k8s-evnt=cls/k8s-event", "unknown log kind 'k8s-evnt'"),
    ("business=cls/%Q/", "unsupported directive %Q"),
    ("business=/abs/path", "relative key"),
]


def test_bad_key_templates_are_rejected_before_the_secrets_are_read(tmp_path: Path) -> None:
    assert cli(tmp_path, "owners", "add", "carol").returncode == 0
    for template, needle in BAD_TEMPLATES:
        result = cli(tmp_path, "owners", "bind-keys", "carol", "--region", "ap-guangzhou",
                     "--key-template", template, stdin="")  # fmt: skip
        assert result.returncode == 2
        assert needle in one_line_error(result)
    assert "no keys" in cli(tmp_path, "owners", "list").stdout  # nothing was stored


def test_bind_keys_help_documents_the_templates(tmp_path: Path) -> None:
    text = cli(tmp_path, "owners", "bind-keys", "--help").stdout
    for word in ("k8s-event", "k8s-audit", "--prefix", "--check", "%Y/%m/%d/%H/"):
        assert word in text


# --------------------------------------------------------------------------- --day, pipes, masks, serve


@pytest.mark.parametrize("bad", ["2026-02-30", "yesterdy", "20260228", "2026-2-3"])
def test_a_mistyped_day_is_one_line_error(tmp_path: Path, bad: str) -> None:
    result = cli(tmp_path, "pipeline", "run", "--source", "local", "--day", bad)
    assert result.returncode == 2
    assert f"--day '{bad}' is not a day" in one_line_error(result)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_day_words_resolve_in_the_owners_zone() -> None:
    now = datetime(2026, 3, 1, 17, 0, tzinfo=ZoneInfo("UTC"))  # already 2 March in Shanghai
    assert resolve_day("today", "Asia/Shanghai", now) == "2026-03-02"
    assert resolve_day("yesterday", "Asia/Shanghai", now) == "2026-03-01"
    assert resolve_day(None, "Asia/Shanghai", now) == "2026-03-01"
    assert resolve_day("2024-02-29", "Asia/Shanghai", now) == "2024-02-29"
    with pytest.raises(DayError):
        resolve_day("2026-02-29", "Asia/Shanghai", now)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    code = (
        "import sys; from server import cli; from server.commands import cases\n"
        "cases._list = lambda args: [print(f'#{i} case') for i in range(200000)] and 0\n"
        "sys.exit(cli.main(['cases', 'list']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "XOPS_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env=env)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"#0")
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_masks_are_partial_never_whole() -> None:
    assert mask("AKIDabcdefgh1234", keep_prefix=4) == "AKID****1234"
    assert mask("AKID" + "x" * 28 + "1234", keep_prefix=4) == "AKID****1234"
    short = mask("AKIDab1234", keep_prefix=4)
    assert (
        short.startswith("AKI") and short.endswith("34") and "b12" not in short
    )  # recognisable, mostly hidden
    key = "k" * 28 + "abcd"
    assert mask(key) == "****abcd"
    assert mask("abc") == "****"


def test_serve_takes_an_mcp_port() -> None:
    args = build_parser().parse_args(["serve", "--mcp-port", "0", "--ws-port", "8100"])
    assert args.mcp_port == 0 and args.ws_port == 8100

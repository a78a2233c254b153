"""Issue 15.1: an owner named 张三 works in every script. The CLI creates them and binds their keys and cloud accounts;
their nightly run reads their own bucket (a local COS server that verifies the SDK's signatures), writes their
report under a stable path id, and the report is found again by name; `pipeline run --owner 张三` works too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agents.owner_ids import InvalidOwnerName, owner_path_id, validate_owner_name
from agents.sample_day import generate_day
from server.config import Settings
from server.dialogue.reports import ReportStore
from server.owners import AccountDirectory, OwnerDirectory
from server.scheduler import PipelineScheduler
from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key
from server.vault.store import CredentialVault
from server.voiceprint.store import OwnerError, VoiceprintStore
from tests.fakes.cos_server import FakeCosServer
from tests.paths import REPO

DAY = "2026-03-14"
ZHANG = "张三"
SID, SKEY, BUCKET = "AKIDzhang00000000003", "zhang-secret-key-0003", "logs-z-1250000003"


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XOPS_DATA_DIR": str(data_dir), "XOPS_RESULTS_DIR": str(data_dir / "results")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_one_validator_and_stable_path_ids() -> None:
    assert owner_path_id("alice") == "alice"  # plain names keep their directories
    assert owner_path_id(ZHANG) == owner_path_id(" 张三 ") and owner_path_id(ZHANG).startswith("u-")
    assert owner_path_id("Li Lei") != owner_path_id("Li  Lei")
    for bad in ("", "..", "a/b", "x\x00", "u-0123456789abcdef", "-lead", "z" * 65):
        try:
            validate_owner_name(bad)
        except InvalidOwnerName:
            continue
        raise AssertionError(f"{bad!r} accepted")


async def test_zhang_san_gets_a_nightly_run_and_cli_bindings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "owners", "add", ZHANG, "--can-approve").returncode == 0
    bad = cli(data, "owners", "add", "a/b")
    assert bad.returncode == 1 and "invalid owner name" in bad.stderr and "Traceback" not in bad.stderr
    bound = cli(data, "owners", "bind-keys", ZHANG, "--region", "ap-guangzhou", "--bucket", BUCKET,
                "--uin", "200000000003", "--app-id", "1250000003", stdin=f"{SID}\n{SKEY}\n")  # fmt: skip
    assert bound.returncode == 0, bound.stderr
    assert SKEY not in bound.stdout + bound.stderr
    listed = cli(data, "owners", "accounts")
    assert (
        "uin:200000000003" in listed.stdout and "appid:1250000003" in listed.stdout and ZHANG in listed.stdout
    )
    wrong = cli(data, "owners", "accounts", ZHANG, "--uin", "not-a-number")
    assert wrong.returncode == 1 and "must be a number" in wrong.stderr

    settings = Settings(_env_file=None, data_dir=data, results_dir=data / "results", log_source="cos")
    db = Database.sqlite(settings.db_path)
    db.create_all()
    owners = VoiceprintStore(db, None)
    try:
        owners.create_owner("张三")
        raise AssertionError("duplicate owner accepted")
    except OwnerError:
        pass
    vault = CredentialVault(db, VaultCipher(master_key(settings.master_key.get_secret_value(), data)))
    directory = OwnerDirectory(settings, owners, vault)
    assert ZHANG in directory.names()  # the nightly run includes 张三
    assert {b.account for b in AccountDirectory(db).bindings(ZHANG)} == {
        "uin:200000000003",
        "appid:1250000003",
    }

    with FakeCosServer() as cos:
        gen = generate_day(tmp_path / "gen", DAY, lines=6_000, seed=11, owner=ZHANG, local=False, cos=True)
        cos.add_user(SID, SKEY)
        cos.add_bucket(BUCKET, [SID])
        assert cos.put_dir(BUCKET, gen.cos_dir) > 0
        settings = settings.model_copy(update={"cos_endpoint": f"http://{cos.ip}:{cos.port}"})
        directory = OwnerDirectory(settings, owners, vault)
        scheduler = PipelineScheduler(
            settings,
            owners=lambda: [ZHANG],
            source_factory=directory.source_for,
            analyst_factory=lambda o: None,
        )
        results = await scheduler.run_day(DAY)  # what the 01:00 cron runs
    result = results[ZHANG]
    assert result is not None and result.lines > 0
    out = settings.results_dir / DAY / owner_path_id(ZHANG)
    assert (out / "llm_summary.txt").is_file()
    summary = ReportStore(settings.results_dir).summary(ZHANG, DAY)
    assert summary is not None and summary.text.strip()
    assert ReportStore(settings.results_dir).days(ZHANG) == [DAY]
    db.dispose()

    # the command line, with a local source
    generate_day(data / "logs", DAY, lines=3_000, seed=12, owner=ZHANG)
    run = cli(
        data, "pipeline", "run", "--owner", ZHANG, "--day", DAY, "--source", "local", "--no-llm", "--quiet"
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"{ZHANG} {DAY}" in run.stdout

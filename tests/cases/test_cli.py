"""`xiaozhi-ops cases list|show` against a real SQLite file."""

from __future__ import annotations

import argparse

import pytest

from server.cases.service import CaseService
from server.commands import cases as cases_cmd
from server.storage.db import Database
from tests.cases.helpers import case_at_gate


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cases_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_list_and_show(db: Database, service: CaseService, capsys: pytest.CaptureFixture[str]) -> None:
    case = case_at_gate(service)
    service.deny(case.id, actor="owner:alice", reason="不用回滚")
    url = db.url
    assert run(["cases", "list", "--database-url", url]) == 0
    listing = capsys.readouterr().out
    assert f"#{case.id}" in listing and "PARKED" in listing and "prod/api 5xx 激增" in listing
    assert run(["cases", "show", str(case.id), "--database-url", url]) == 0
    shown = capsys.readouterr().out
    for expected in (
        "start_analysis",
        "plan_proposed",
        "deny",
        "WAIT_GATE→PARKED",
        "不用回滚",
        "回滚到上一个版本",
    ):
        assert expected in shown
    assert run(["cases", "show", "424242", "--database-url", url]) == 1

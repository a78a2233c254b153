"""Read access to the pipeline's results: analysis_results/<day>/<owner>/{llm_summary.txt, findings.json}."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.owner_ids import InvalidOwnerName, owner_path_id

log = logging.getLogger(__name__)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _owner_ok(owner: str) -> bool:
    """The one owner-name rule (agents.owner_ids): 张三 is fine, '..' and 'a/b' are not."""
    try:
        owner_path_id(owner)
    except InvalidOwnerName:
        return False
    return True


@dataclass(frozen=True)
class Summary:
    owner: str
    day: str
    text: str


class ReportStore:
    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)

    def _dir(self, owner: str, day: str) -> Path | None:
        # Owner and day come from speech/intent parsing; never let them escape the results dir.
        if not (_owner_ok(owner) and _DAY.match(day)):
            return None
        return self.results_dir / day / owner_path_id(owner)

    def days(self, owner: str) -> list[str]:
        """Days with a finished summary for ``owner``, newest first."""
        if not self.results_dir.is_dir() or not _owner_ok(owner):
            return []
        owner_dir = owner_path_id(owner)
        found = [
            d.name
            for d in self.results_dir.iterdir()
            if _DAY.match(d.name) and (d / owner_dir / "llm_summary.txt").is_file()
        ]
        return sorted(found, reverse=True)

    def summary(self, owner: str, day: str) -> Summary | None:
        d = self._dir(owner, day)
        if d is None:
            return None
        path = d / "llm_summary.txt"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return Summary(owner, day, text) if text else None

    def latest_summary(self, owner: str, not_after: str | None = None) -> Summary | None:
        for day in self.days(owner):
            if not_after is None or day <= not_after:
                s = self.summary(owner, day)
                if s:
                    return s
        return None

    def findings(self, owner: str, day: str) -> dict[str, Any] | None:
        d = self._dir(owner, day)
        if d is None:
            return None
        try:
            return json.loads((d / "findings.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable findings for %s/%s: %s", owner, day, exc)
            return None

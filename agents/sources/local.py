"""Local directory source (the embedded default; the sample-day generator writes here).

Layout, under ``root`` (default ``data/logs``), one directory per owner:

1. Simple layout (preferred for generated days)::

       <root>/<owner>/<YYYY-MM-DD>/<kind>/*.log | *.ndjson | *.jsonl | *.json | *.txt | *.gz

   ``<kind>`` is ``business``, ``event`` or ``audit`` (``agents.records.LogKind`` values). Files may sit
   in sub-directories (e.g. one per hour); they are read in sorted path order. Any file may be gzipped
   (detected by magic bytes, whatever its name).

2. CLS→COS layout (a local mirror of the owner's bucket)::

       <root>/<owner>/cos/<key>     e.g. <root>/alice/cos/k8s-event/2024/06/01/13/202406011405_x.gz

   where ``<key>`` follows the owner's ``SourceConfig`` key template for the kind (default
   ``{prefix}/%Y/%m/%d/%H/`` with prefixes ``business``, ``k8s-event``, ``k8s-audit``, hours in the
   owner's time zone). Day resolution is exactly the COS source's (``base.resolve_day``).

``layout="auto"`` reads the simple layout when ``<root>/<owner>/<day>/<kind>/`` exists, else the COS mirror.
``ObjectRef.key`` is the path relative to ``<root>/<owner>`` with ``/`` separators.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Literal

from agents.owner_ids import InvalidOwnerName, owner_path_id
from agents.records import LogKind
from agents.sources.base import (
    LogSource,
    ObjectRef,
    SourceConfig,
    SourceError,
    as_date,
    resolve_day,
    text_lines,
)

LOG_SUFFIXES = (".log", ".ndjson", ".jsonl", ".json", ".txt", ".gz")
COS_DIR = "cos"
Layout = Literal["auto", "simple", "cls"]


def simple_dir(root: Path, owner: str, day: date | str, kind: LogKind | str) -> Path:
    """Where the simple layout keeps one owner's logs of one kind and day (writers use this too)."""
    return Path(root) / _safe(owner) / as_date(day).isoformat() / LogKind(kind).value


def cos_mirror_dir(root: Path, owner: str) -> Path:
    """Root of the local CLS→COS mirror of one owner's bucket."""
    return Path(root) / _safe(owner) / COS_DIR


def _safe(owner: str) -> str:
    """The owner's directory: ``owner_path_id`` (plain ASCII names as they are, 张三 → u-<hash>)."""
    try:
        return owner_path_id(owner)
    except InvalidOwnerName as exc:
        raise SourceError(str(exc), code="InvalidOwner") from None


def _is_log(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(LOG_SUFFIXES) and not path.name.startswith(".")


class LocalSource(LogSource):
    def __init__(
        self, root: Path | str, owner: str, config: SourceConfig | None = None, layout: Layout = "auto"
    ) -> None:
        self.root = Path(root)
        self.owner = owner  # the name; its directory is _safe(owner) (张三 → u-<hash>)
        self.base = self.root / _safe(owner)
        self.config = config or SourceConfig()
        self.layout = layout

    def list_objects(self, kind: LogKind | str, day: date | str) -> list[ObjectRef]:
        kind = LogKind(kind)
        day = as_date(day)
        folder = simple_dir(self.root, self.owner, day, kind)
        if self.layout == "simple" or (self.layout == "auto" and folder.is_dir()):
            if not folder.is_dir():
                return []
            return [self._ref(path, kind) for path in sorted(p for p in folder.rglob("*") if _is_log(p))]
        mirror = cos_mirror_dir(self.root, self.owner)
        if not mirror.is_dir():
            return []
        template = self.config.template(kind)
        return resolve_day(
            lambda prefix: self._list_prefix(prefix, kind), template, day, self.config.tz, self.config
        )

    def open_lines(self, ref: ObjectRef) -> Iterator[str]:
        path = (self.base / ref.key).resolve()
        if not path.is_relative_to(self.base.resolve()):
            raise SourceError(f"{ref.key}: outside the owner's directory", code="InvalidKey", key=ref.key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by text_lines
        except FileNotFoundError:
            raise SourceError(f"{ref.key}: no such file", code="NoSuchKey", key=ref.key) from None
        except OSError as exc:
            raise SourceError(f"{ref.key}: {exc.strerror}", code="ReadError", key=ref.key) from None
        return text_lines(handle, ref.key)

    # ------------------------------------------------------------ helpers

    def _ref(self, path: Path, kind: LogKind) -> ObjectRef:
        st = path.stat()
        return ObjectRef(
            key=path.relative_to(self.base).as_posix(), kind=kind, size=st.st_size, last_modified=st.st_mtime
        )

    def _list_prefix(self, prefix: str, kind: LogKind) -> Iterator[ObjectRef]:
        """Files of the COS mirror whose key starts with ``prefix`` (keys compared as strings, like COS)."""
        mirror = cos_mirror_dir(self.root, self.owner)
        start = mirror / prefix if prefix.endswith("/") or not prefix else (mirror / prefix).parent
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = path.relative_to(mirror).as_posix()
                if key.startswith(prefix) and _is_log(path):
                    st = path.stat()
                    yield ObjectRef(
                        key=f"{COS_DIR}/{key}", kind=kind, size=st.st_size, last_modified=st.st_mtime
                    )

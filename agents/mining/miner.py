"""Streaming template miner: one message at a time, state that can be saved and resumed.

How a message finds its template:

1. caches, cheapest first (a day of logs repeats heavily, so almost every line ends here):
   a. the *digit key* (the message with every ASCII digit made ``0``: two C calls, no regex). Lines that
      differ only in numbers share it, and the masking rules provably give them one shape when that shape
      keeps no digit (``masking.digit_key_decides``), so most lines never reach the masking regexes;
   b. the exact message (for the lines whose shape keeps digits, e.g. ``ssh2``);
   c. the message after the one-pass regex pre-mask (random hex ids such as trace ids differ in letters,
      so they miss (a), but their pre-masked text repeats);
   d. the *shape* (the message after all masking rules, see ``masking``), each token's masked form being
      cached too;
2. a new shape is split into positions (pieces and delimiters) and compared with the templates of the same
   length; the most specific template that generalises it wins;
3. otherwise it becomes a new template. Each template registers, for each literal position, a *context*:
   the pattern with that one position blanked. When enough distinct literals share one context the
   position is a parameter (Brain-style variable-position detection): the templates of that context merge
   into one, the oldest id survives and the others become aliases of it. Literals that contain digits
   (``host7``, ``ssh2``) need ``k_weak`` distinct values, plain words (user names vs. state names like
   ``FOLLOWING``/``LEADING``) need ``k_word``.

Template ids stay valid forever: a merged id resolves to its survivor (``canonical``). The miner only ever
generalises, so a template keeps matching every message it matched before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from agents.mining.masking import (
    DIGIT_KEY_TABLE,
    PIECE_DELIMITERS,
    WILDCARD,
    collapse,
    digit_key,
    digit_key_decides,
    has_digit,
    mask_message,
    mask_token,
    split_pieces,
    split_subpieces,
)

STATE_VERSION = 1

_VAR, _DELIM, _WEAK, _WORD = 0, 1, 2, 3
# a context: the position of a literal and the pieces before and after it (the pattern with it blanked)
_CtxKey = tuple[int, tuple[str, ...], tuple[str, ...]]
_RARE_LINES = 3  # a literal seen on at most this many lines is rare


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    text: str  # the template with <*> for parameters
    count: int  # messages seen
    example: str  # the first message that produced it


class PersistenceHandler(Protocol):
    """Where a miner's state lives (file, memory, a database row…), as in Drain3."""

    def save_state(self, state: bytes) -> None: ...

    def load_state(self) -> bytes | None: ...


class MemoryPersistence:
    def __init__(self) -> None:
        self.state: bytes | None = None

    def save_state(self, state: bytes) -> None:
        self.state = state

    def load_state(self) -> bytes | None:
        return self.state


class FilePersistence:
    def __init__(self, path: str | Any) -> None:
        from pathlib import Path

        self.path = Path(path)

    def save_state(self, state: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(state)
        tmp.replace(self.path)  # atomic: a crash never leaves half a state

    def load_state(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None


def _no_literals(_pieces: tuple[str, ...]) -> tuple[()]:
    return ()


@dataclass(slots=True)
class _Tpl:
    id: int
    pieces: tuple[str, ...]
    count: int
    example: str
    keys: list[tuple[_CtxKey, str]] = field(default_factory=list)  # registered (context, literal)
    # A cheap necessary condition for ``_generalises(self.pieces, p)``: every wildcard-free position must
    # be equal, checked by one C-level itemgetter before the piece-by-piece test (learning scans buckets).
    probe: Callable[[tuple[str, ...]], Any] = _no_literals
    literals: Any = ()

    def __post_init__(self) -> None:
        self.reshape(self.pieces)

    def reshape(self, pieces: tuple[str, ...]) -> None:
        self.pieces = pieces
        where = [j for j, p in enumerate(pieces) if WILDCARD not in p]
        self.probe = itemgetter(*where) if where else _no_literals
        self.literals = self.probe(pieces)


@dataclass(slots=True)
class _Context:
    members: dict[str, int] = field(default_factory=dict)  # literal -> template id
    open: bool = False  # already generalised: any second literal merges at once


class _TokenCache(dict[str, str]):
    """token -> masked token; a miss masks and remembers (bounded: cleared when full)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, token: str) -> str:
        masked = mask_token(token)
        if len(self) >= self.limit:
            self.clear()
        self[token] = masked
        return masked


def _kind(piece: str) -> int:
    core = piece[1:] if piece.startswith(" ") else piece
    if core == WILDCARD:
        return _VAR
    if len(core) == 1 and core in PIECE_DELIMITERS:
        return _DELIM
    return _WEAK if has_digit(core) else _WORD


def _generalise(values: Iterable[str]) -> str:
    """The most specific piece covering all values: keep equal sub-pieces, wildcard the rest."""
    vals = list(values)
    space = " " if vals[0].startswith(" ") else ""
    cores = [v[1:] if v.startswith(" ") else v for v in vals]
    split = [split_subpieces(c) for c in cores]
    n = len(split[0])
    if n > 1 and all(len(s) == n for s in split):
        out = []
        for column in zip(*split, strict=True):
            first = column[0]
            if all(c == first for c in column):
                out.append(first)
            elif any(len(c) == 1 and not c.isalnum() for c in column):
                return space + WILDCARD  # delimiters differ: different structure
            else:
                out.append(WILDCARD)
        text = collapse("".join(out))
        if any(ch.isalnum() for ch in text.replace(WILDCARD, "")):
            return space + text
    return space + WILDCARD


_piece_rx_cache: dict[str, re.Pattern[str]] = {}


def _piece_matches(tpl: str, piece: str) -> bool:
    if tpl == piece:
        return True
    tcore = tpl.lstrip(" ")
    if tcore == WILDCARD:
        return True
    if WILDCARD not in tcore:
        return False
    rx = _piece_rx_cache.get(tcore)
    if rx is None:
        rx = re.compile(".+?".join(re.escape(p) for p in tcore.split(WILDCARD)), re.DOTALL)
        _piece_rx_cache[tcore] = rx
    return rx.fullmatch(piece.lstrip(" ")) is not None


def _generalises(pattern: tuple[str, ...], pieces: tuple[str, ...]) -> bool:
    covered = False
    for t, p in zip(pattern, pieces, strict=True):
        if t == p:
            continue
        if not _piece_matches(t, p):
            return False
        covered = True
    return not covered or _mostly_literal(pattern)


def _mostly_literal(pattern: Iterable[str]) -> bool:
    """Only a pattern that is still mostly literal may stand for literals: "<*> <*> <*> <*>" explains nothing."""
    literal = wild = 0
    for p in pattern:
        k = _kind(p)
        if k >= _WEAK:
            literal += 1
        elif k == _VAR:
            wild += 1
    return literal >= 2 and literal >= wild


def _specificity(pattern: tuple[str, ...]) -> int:
    return sum(1 for p in pattern if WILDCARD not in p)


def render(pieces: Iterable[str]) -> str:
    return collapse("".join(pieces)).strip()


class TemplateMiner:
    """Streaming log template miner. Not thread-safe: use one per worker (shards merge by template text)."""

    def __init__(
        self,
        *,
        k_word: int = 6,
        k_weak: int = 2,
        k_many: int = 16,
        min_spread: float = 0.3,
        k_rare: int = 3,
        persistence: PersistenceHandler | None = None,
        cache_size: int = 200_000,
    ) -> None:
        self.k_word = k_word
        self.k_weak = k_weak
        self.k_many = k_many
        self.min_spread = min_spread
        self.k_rare = k_rare
        self.persistence = persistence
        self._cache_size = cache_size
        self._tokens = _TokenCache(cache_size)
        # caches in front of the shapes (see the module doc); each is cleared when it reaches cache_size
        self._digit_keys: dict[bytes, int] = {}
        self._messages: dict[str, int] = {}
        self._premasked: dict[str, tuple[int, bool]] = {}  # -> (template id, digit key decides)
        self._shapes: dict[str, int] = {}
        self._tpls: dict[int, _Tpl] = {}
        self._alias: dict[int, int] = {}
        self._buckets: dict[int, list[int]] = {}
        self._contexts: dict[_CtxKey, _Context] = {}
        self._next_id = 1
        if persistence is not None:
            self.load()

    # ----------------------------------------------------------------- public API
    def add(self, message: str) -> int:
        """Learn from one message; returns its template id (use ``canonical`` later: ids may merge)."""
        key = digit_key(message)
        tid = self._digit_keys.get(key)
        if tid is None:
            tid = self._resolve(message, key)
        elif tid in self._alias:
            tid = self._digit_keys[key] = self.canonical(tid)
        self._tpls[tid].count += 1
        return tid

    def add_many(self, messages: Iterable[str]) -> list[int]:
        """Learn from a batch; returns canonical ids as of the end of the batch.

        The fast path (the pipeline's): same result as ``add`` per message, with the common case (a digit
        key seen before) inlined: encode, translate, one dict lookup, no regex and no Python call."""
        digit_keys = self._digit_keys
        get_key = digit_keys.get
        table = DIGIT_KEY_TABLE
        resolve = self._resolve
        tpls = self._tpls
        alias = self._alias
        out: list[int] = []
        append = out.append
        for message in messages:
            key = message.encode("utf-8", "surrogatepass").translate(table)  # = digit_key(message)
            tid = get_key(key)
            if tid is None:
                tid = resolve(message, key)
            elif tid in alias:
                tid = digit_keys[key] = self.canonical(tid)
            tpls[tid].count += 1
            append(tid)
        if alias:
            canonical = self.canonical
            out = [canonical(t) if t in alias else t for t in out]
        return out

    def match(self, message: str) -> int | None:
        """The template id a message belongs to, without learning anything (caches are only read)."""
        tid = self._digit_keys.get(digit_key(message))
        if tid is None:
            tid = self._messages.get(message)
        if tid is None:
            premasked = mask_message(message)
            hit = self._premasked.get(premasked)
            if hit is not None:
                tid = hit[0]
            else:
                shape = " ".join(map(self._tokens.__getitem__, premasked.split()))
                tid = self._shapes.get(shape)
                if tid is None:
                    best = self._best_match(split_pieces(shape))
                    return best.id if best is not None else None
        return self.canonical(tid)

    def canonical(self, tid: int) -> int:
        """The live id for a template id (ids of merged templates resolve to the survivor)."""
        alias = self._alias
        root = tid
        while root in alias:
            root = alias[root]
        while tid in alias and alias[tid] != root:  # path compression
            alias[tid], tid = root, alias[tid]
        return root

    def template(self, tid: int) -> str:
        return render(self._tpls[self.canonical(tid)].pieces)

    def templates(self) -> list[Template]:
        return [
            Template(t.id, render(t.pieces), t.count, t.example) for t in sorted(self._tpls.values(), key=_id)
        ]

    def __len__(self) -> int:
        return len(self._tpls)

    # ----------------------------------------------------------------- learning
    def _resolve(self, message: str, key: bytes) -> int:
        """The live template id for a message whose digit key missed; learns, and fills the caches."""
        tid = self._messages.get(message)
        if tid is not None:
            return self.canonical(tid)
        premasked = mask_message(message)
        hit = self._premasked.get(premasked)
        if hit is not None:
            tid, decides = self.canonical(hit[0]), hit[1]
        else:
            shape = " ".join(map(self._tokens.__getitem__, premasked.split()))
            tid = self._shapes.get(shape)
            tid = self._learn(shape, message) if tid is None else self.canonical(tid)
            decides = digit_key_decides(key, shape)
            _remember(self._premasked, premasked, (tid, decides), self._cache_size)
        if decides:
            _remember(self._digit_keys, key, tid, self._cache_size)
        else:
            _remember(self._messages, message, tid, self._cache_size)
        return tid

    def _best_match(self, pieces: tuple[str, ...]) -> _Tpl | None:
        best: _Tpl | None = None
        bucket = map(self._tpls.__getitem__, self._buckets.get(len(pieces), ()))
        for tpl in [t for t in bucket if t.probe(pieces) == t.literals]:  # cheap filter first, in C
            if _generalises(tpl.pieces, pieces) and (
                best is None or _specificity(tpl.pieces) > _specificity(best.pieces)
            ):
                best = tpl
        return best

    def _learn(self, key: str, message: str) -> int:
        pieces = split_pieces(key)
        best = self._best_match(pieces)
        if best is not None:
            self._shapes[key] = best.id
            return best.id
        tpl = _Tpl(self._next_id, pieces, 0, message)
        self._next_id += 1
        self._tpls[tpl.id] = tpl
        self._buckets.setdefault(len(pieces), []).append(tpl.id)
        tpl = self._absorb(tpl)
        self._settle(self._register(tpl))
        tid = self.canonical(tpl.id)
        self._shapes[key] = tid
        return tid

    def _absorb(self, tpl: _Tpl) -> _Tpl:
        """Merge into ``tpl`` every other template its pattern generalises; returns the survivor."""
        probe, literals, tpls = tpl.probe, tpl.literals, self._tpls
        others = [
            o
            for o in self._buckets.get(len(tpl.pieces), ())
            if o != tpl.id and probe(tpls[o].pieces) == literals and _generalises(tpl.pieces, tpls[o].pieces)
        ]
        for o in others:
            tpl = self._merge(tpl, self._tpls[o])
        return tpl

    def _merge(self, general: _Tpl, other: _Tpl) -> _Tpl:
        """One template from two: the older id survives with ``general``'s pattern. Both end unregistered."""
        keep, drop = (general, other) if general.id < other.id else (other, general)
        self._unregister(keep)
        self._unregister(drop)
        keep.reshape(general.pieces)
        keep.count += drop.count
        if drop.example and (not keep.example or drop.id < keep.id):
            keep.example = drop.example
        del self._tpls[drop.id]
        self._buckets[len(drop.pieces)].remove(drop.id)
        self._alias[drop.id] = keep.id
        return keep

    def _register(self, tpl: _Tpl) -> list[_CtxKey]:
        """Index each literal position of ``tpl`` under its context; returns contexts now due to merge."""
        due = []
        pieces = tpl.pieces
        for j, piece in enumerate(pieces):
            if _kind(piece) <= _DELIM:
                continue
            ctx_key = (j, pieces[:j], pieces[j + 1 :])
            ctx = self._contexts.get(ctx_key)
            if ctx is None:
                ctx = self._contexts[ctx_key] = _Context()
            ctx.members[piece] = tpl.id
            tpl.keys.append((ctx_key, piece))
            if len(ctx.members) >= 2 and (ctx.open or self._varies(ctx_key, ctx)):
                due.append(ctx_key)
        return due

    def _varies(self, ctx_key: _CtxKey, ctx: _Context) -> bool:
        """Is the blanked position of this context a parameter, judging by the literals seen there?"""
        n = len(ctx.members)
        if n < self.k_weak:
            return False
        if not _mostly_literal((*ctx_key[1], *ctx_key[2])):
            return False
        if any(_kind(v) != _WORD for v in ctx.members):
            return True  # literals with digits (host7, ssh2): two distinct values are enough
        if n < self.k_word:
            return False
        if n >= self.k_many:
            return True
        # a small vocabulary repeated many times (states, verbs) is structure; values keep coming
        # judged only once the literals have had a chance to repeat (a quick burst of 4 states is no proof)
        counts = [self._tpls[t].count + 1 for t in set(ctx.members.values()) if t in self._tpls]
        lines = sum(counts)
        if lines < 2 * n:
            return False
        if n / lines >= self.min_spread:
            return True
        # values have a long tail: beside a few frequent ones (root), many seen once or twice (git, mysql);
        # a closed vocabulary (states, verbs) repeats every member
        return self.k_rare > 0 and sum(1 for c in counts if c <= _RARE_LINES) >= self.k_rare

    def _unregister(self, tpl: _Tpl) -> None:
        for ctx_key, piece in tpl.keys:
            ctx = self._contexts.get(ctx_key)
            if ctx is not None and ctx.members.get(piece) == tpl.id:
                del ctx.members[piece]
                if not ctx.members and not ctx.open:
                    del self._contexts[ctx_key]
        tpl.keys.clear()

    def _settle(self, work: list[_CtxKey]) -> None:
        """Generalise every due context; merges can make further contexts due (worklist)."""
        while work:
            ctx_key = work.pop()
            ctx = self._contexts.get(ctx_key)
            if ctx is None or len(ctx.members) < 2:
                continue
            members = sorted({self.canonical(t) for t in ctx.members.values()} & self._tpls.keys())
            piece = _generalise(ctx.members)
            survivor = self._tpls[members[0]]
            for m in members:
                self._unregister(self._tpls[m])
            survivor.reshape((*ctx_key[1], piece, *ctx_key[2]))
            for m in members[1:]:
                survivor = self._merge(survivor, self._tpls[m])
            ctx = self._contexts.setdefault(ctx_key, _Context())
            ctx.open = True
            ctx.members.clear()
            survivor = self._absorb(survivor)
            work.extend(self._register(survivor))

    # ----------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "k_word": self.k_word,
            "k_weak": self.k_weak,
            "next_id": self._next_id,
            "templates": [
                {"id": t.id, "pieces": list(t.pieces), "count": t.count, "example": t.example}
                for t in sorted(self._tpls.values(), key=_id)
            ],
            "aliases": [[a, self.canonical(a)] for a in sorted(self._alias)],
            "open_contexts": [
                [k[0], list(k[1]), list(k[2])] for k, c in self._contexts.items() if c.open and not c.members
            ],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], **kwargs: Any) -> TemplateMiner:
        miner = cls(k_word=state.get("k_word", 6), k_weak=state.get("k_weak", 2), **kwargs)
        miner._restore(state)
        return miner

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported miner state version {state.get('version')!r}")
        self.__init__(  # type: ignore[misc]
            k_word=self.k_word,
            k_weak=self.k_weak,
            k_many=self.k_many,
            min_spread=self.min_spread,
            k_rare=self.k_rare,
            cache_size=self._cache_size,
        )
        self.k_word = int(state["k_word"])
        self.k_weak = int(state["k_weak"])
        self._next_id = int(state["next_id"])
        for t in state["templates"]:
            tpl = _Tpl(int(t["id"]), tuple(t["pieces"]), int(t["count"]), str(t["example"]))
            self._tpls[tpl.id] = tpl
            self._buckets.setdefault(len(tpl.pieces), []).append(tpl.id)
        self._alias = {int(a): int(b) for a, b in state["aliases"]}
        for j, before, after in state["open_contexts"]:
            self._contexts[(int(j), tuple(before), tuple(after))] = _Context(open=True)
        for tpl in self._tpls.values():
            self._register(tpl)  # a saved state is settled: nothing is due

    def state_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def save(self) -> None:
        if self.persistence is None:
            raise RuntimeError("TemplateMiner has no persistence handler")
        self.persistence.save_state(self.state_json().encode("utf-8"))

    def load(self) -> bool:
        """Restore from the persistence handler; False when it holds no state yet."""
        if self.persistence is None:
            raise RuntimeError("TemplateMiner has no persistence handler")
        raw = self.persistence.load_state()
        if not raw:
            return False
        persistence = self.persistence
        self._restore(json.loads(raw))
        self.persistence = persistence
        return True


def _id(t: _Tpl) -> int:
    return t.id


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Bounded cache insert: a full cache starts over (a day's working set refills it in moments)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value

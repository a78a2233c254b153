"""Masking rules (data) and the tokenizer that turns a message into a *shape*.

A shape is the message with every value that is certainly a parameter replaced by ``<*>``. Rules are data:
a tuple of :class:`MaskingRule` compiled once into one alternation per level, so adding a rule touches a
list, not code.

Three levels, coarse to fine, following the conventions of the corrected Loghub-2.0 ground truth
(values are masked as whole pieces between delimiters and the punctuation around them is kept, so an
``ip:port`` renders as ``<*>:<*>`` and ``node-12`` as ``node-<*>``):

1. ``TOKEN_RULES`` match a whole whitespace token without its wrapping brackets or quotes (values that
   contain piece delimiters themselves: URLs, timestamps, image references, ip:port).
2. ``PIECE_RULES`` match a piece between the delimiters ``PIECE_DELIMITERS`` (numbers, ids, paths, …).
3. Inside a remaining piece that holds digits, ``SUBPIECE_DELIMITERS`` split it further and bare numbers
   (or digit runs glued to CJK text) become ``<*>``; mixed letters+digits (``ssh2``, ``host7``) stay
   literal: whether they vary is decided by the miner from what it sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

WILDCARD = "<*>"


@dataclass(frozen=True, slots=True)
class MaskingRule:
    name: str
    pattern: str  # must match the whole token / piece (fullmatch)
    replacement: str = WILDCARD


_HEX = "[0-9a-fA-F]"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?: ?[AP]M)?"
# Host names are values wherever they appear: a dotted name ending in a top-level domain. Country codes that
# are also common file extensions or words (py, sh, pl, so, md, in, it, is, at, me, no, to, …) are left out.
_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|name|cloud|app|dev|local|localdomain|lan|internal|corp|home|arpa|"
    "cn|hk|tw|jp|kr|uk|de|fr|ru|br|au|ca|nl|eu|es|se|ch|pt|om|sg|nz|za|mx|ar|cz|dk|fi|gr|hu|ie|il|ua|vn|th|tr"
)
_FQDN = rf"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+(?:{_TLDS})\.?"
# A file name with a well-known extension (programs, libraries, logs, configs, archives) is a value.
_FILE_EXTENSIONS = (
    "exe|dll|sys|so|jar|war|ear|class|py|sh|bat|cmd|pl|rb|log|out|err|txt|conf|cfg|ini|xml|json|yaml|yml|"
    "properties|gz|zip|tar|tgz|xz|rar|rpm|deb|pid|sock|lock|tmp|bak|dat|db|sqlite|html?|php|jsp|js|css|"
    "png|jpe?g|gif|svg|pdf|docx?|xlsx?|csv|iso|img|msi|cab|mui|manifest|cat"
)
_FILE = rf"[\w\-]+(?:\.[\w\-]+)*\.(?i:{_FILE_EXTENSIONS})"

# Level 1: whole whitespace token (wrapping brackets/quotes removed first).
TOKEN_RULES: tuple[MaskingRule, ...] = (
    # scheme kept: "hdfs://<*>:<*>" for host:port, "https://<*>" with a path
    MaskingRule(
        "url_host_port", r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://[\w.\-]+:\d{1,5}/?", r"\g<scheme>://<*>:<*>"
    ),
    MaskingRule("url", r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://[^\s\"']+", r"\g<scheme>://<*>"),
    MaskingRule(
        "timestamp",
        r"\d{4}-\d{2}-\d{2}[T_]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
    ),
    MaskingRule("ip_port", r"/?(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}", "<*>:<*>"),
    MaskingRule("host_ip_port", r"[A-Za-z][\w.\-]*/(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}", "<*>/<*>:<*>"),
    # a host name with a digit or a dot, then a port: msra-sa-41:9000, db-0.mysql.svc:3306
    MaskingRule("host_port", r"(?=[\w.\-]*[\d.])[A-Za-z][\w.\-]*[A-Za-z0-9]:\d{2,5}", "<*>:<*>"),
    MaskingRule("mac", rf"(?:{_HEX}{{2}}:){{5}}{_HEX}{{2}}"),
    # the common-log-format time: 10/Oct/2000:13:55:36
    MaskingRule("clf_time", rf"\d{{1,2}}/{_MONTH}/\d{{4}}(?::\d{{2}}){{0,3}}"),
    MaskingRule("fqdn_port", rf"{_FQDN}:\d{{1,5}}", "<*>:<*>"),
)

# Level 2: a piece between PIECE_DELIMITERS.
PIECE_RULES: tuple[MaskingRule, ...] = (
    MaskingRule("ip", r"/?(?:\d{1,3}\.){3}\d{1,3}"),
    MaskingRule("uuid", rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"),
    # k8s pod of a Deployment (name-<replicaset hash>-<5 chars>) or of a DaemonSet/Job (name-<5 chars>
    # with a digit), with an optional namespace/ prefix
    MaskingRule(
        "pod",
        r"(?:[a-z0-9][a-z0-9\-]*/)?[a-z][a-z0-9\-]*-(?:[0-9a-z]{8,10}-[0-9a-z]{5}|(?=[0-9]*[a-z])(?=[a-z]*\d)[0-9a-z]{5})",
    ),
    MaskingRule("email", r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"),
    MaskingRule("fqdn", _FQDN),
    MaskingRule("file_name", _FILE),
    # word_<digits…> ids: blk_-123, attempt_1445_0020_m_000002_0, container_e01_…
    MaskingRule("block_id", r"[A-Za-z][A-Za-z0-9]*_-?[\w\-]*\d[\w\-]*"),
    MaskingRule("hex", rf"0[xX]{_HEX}+|(?={_HEX}*[a-fA-F])(?={_HEX}*\d){_HEX}{{8,}}"),
    MaskingRule("path", r"(?:/[^/\s]+)+/?|[A-Za-z]:\\[^\s]*"),
    MaskingRule("version", r"[vV]?\d+(?:\.\d+){1,3}(?:-[0-9A-Za-z.]+)?"),
    MaskingRule(
        "quantity",
        r"[-+]?\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|min|mins|sec|secs|[KMGTPkmgt]i?[Bb]?|B|%)",
    ),
    MaskingRule("number", r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"),
    # words that are values wherever they appear (the Loghub-2.0 "user string / boolean" convention)
    MaskingRule("value_word", r"(?i:null|true|false)"),
)

# Rules over the whole message, for values that span whitespace. Each has a cheap substring guard.
# A rule's guard: a substring, or a pattern to search for (cheap: both must be true for a match to exist).
MESSAGE_RULES: tuple[tuple[str | re.Pattern[str], MaskingRule], ...] = (
    # a date written out in words, with its time: "Sat Jun 18 01:30:59 2005", "Jun 14 15:16:01",
    # "Fri Jul 01 08:16:53 PDT 2005", "Mon, 7 Dec 2026 10:00:00 +0800" (syslog, ctime, RFC 2822)
    (
        re.compile(rf"{_MONTH} "),
        MaskingRule(
            "text_datetime",
            rf"\b(?:{_WEEKDAY} +)?(?:{_MONTH} +\d{{1,2}},?|\d{{1,2}} +{_MONTH})(?: +\d{{4}})? +{_CLOCK}"
            r"(?: +(?:[A-Z]{3,5}|[+-]\d{4}))?(?: +\d{4})?\b",
        ),
    ),
    # the word naming an account after "user" is a value ("for user cyrus", "invalid user admin", "user=alice"),
    # unless it is one of the words that continue a sentence ("user unknown", "user not found", "user name")
    (
        "ser",
        MaskingRule(
            "user_name",
            # the literal comes first (the regex engine scans for it in C); the boundary is checked behind it
            r"((?:[Uu]ser|USER)(?<![\w\-][Uu]ser)(?<![\w\-]USER)(?: |=))(?!(?:unknown|name|names|id|ids|not|from|to|by|for|of|is|are|"
            r"was|has|had|with|in|on|at|and|or|the|a|an|session|sessions|account|login|logged|authentication|"
            r"request|requests|data|info|agent|mode|space|list|group|groups|process|command|limit|limits)\b)"
            r"[A-Za-z_][\w.\-]*(?=[\s,;:)\]]|$)",
            r"\1<*>",
        ),
    ),
    # an HTTP request line's target + protocol version is one value ("GET <*>")
    # a container image reference in kubelet messages: Pulling image "registry.io/team/app:v1.2.3"
    ('mage "', MaskingRule("image", r'(?<=[Ii]mage )"[^"\s]+"', '"<*>"')),
    (
        " HTTP/",
        MaskingRule(
            "http_request",
            r"\b(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE) \S+ HTTP/\d(?:\.\d)?",
            r"\1 <*>",
        ),
    ),
)

PIECE_DELIMITERS = ",;:=|\"'[](){}!，：；（）【】！、"
SUBPIECE_DELIMITERS = ".-+@#$%&/"
_OPEN = "[(\"'{<"
_CLOSE = "])\"'}>,;.:"


_GROUP_REF = re.compile(r"\\(\d+)|\\g<(\w+)>")


def replacer(replacement: str) -> str | Callable[[re.Match[str]], str]:
    """A replacement for ``Pattern.sub``: the string itself when it has no group references, else a
    function. Why: CPython 3.11 re-parses a ``\\1`` template (and ``Match.expand``) on every match, which
    costs more than the match itself on the hot path."""
    literals: list[str] = []  # literals[i] comes before groups[i]; one literal more than groups
    groups: list[int | str] = []
    pos = 0
    for m in _GROUP_REF.finditer(replacement):
        literals.append(replacement[pos : m.start()])
        groups.append(int(m[1]) if m[1] else m[2])
        pos = m.end()
    if not groups:
        return replacement
    literals.append(replacement[pos:])
    pairs = tuple(zip(literals, groups, strict=False))
    tail = literals[-1]

    def expand(match: re.Match[str]) -> str:
        return "".join([lit + (match[g] or "") for lit, g in pairs]) + tail

    return expand


def _alternation(rules: tuple[MaskingRule, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<r{i}>{r.pattern})" for i, r in enumerate(rules)))


# token rules are tried one by one (they may use groups in their replacement); piece rules as one alternation
_TOKEN_RES = tuple((re.compile(r.pattern), replacer(r.replacement)) for r in TOKEN_RULES)
_PIECE_RE = _alternation(PIECE_RULES)
_PIECE_REPL = {f"r{i}": r.replacement for i, r in enumerate(PIECE_RULES)}
_MESSAGE_RES = tuple(
    (guard, re.compile(rule.pattern), replacer(rule.replacement)) for guard, rule in MESSAGE_RULES
)

_PIECE_SPLIT = re.compile("([" + re.escape(PIECE_DELIMITERS) + "])")
_SUB_SPLIT = re.compile("([" + re.escape(SUBPIECE_DELIMITERS) + "])")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_A-Za-z]")
_LONG_DIGITS = re.compile(r"\d{4}")
_DIGIT_RUN = re.compile(r"\d+(?:\.\d+)?")
_ADJACENT = re.compile(r"<\*>(?:[.]?<\*>)+")
_LIST = re.compile(r"<\*>(?:,<\*>)+")  # "10.0.0.1,10.0.0.2": one list value
_INTERESTING = re.compile(
    rf"[\d/@]|(?i:\b(?:root|admin|null|true|false)\b)|\.(?:{_TLDS})\b|\.(?i:{_FILE_EXTENSIONS})\b"
)


def collapse(text: str) -> str:
    """``<*><*>`` and ``<*>.<*>`` (a dotted value such as an IP) are one parameter."""
    return _ADJACENT.sub(WILDCARD, text) if "<*>" in text else text


# Speed, not meaning: one C-level pass that masks the commonest unique values (numbers, quantities, long
# hex, ids with 4+ digits) when they stand alone between whitespace or piece delimiters, exactly as
# ``mask_piece`` would. What is left varies little, so the per-token cache absorbs it. ':' and '.' are not
# boundaries here: times, ports, URLs and IPs belong to the token rules.
# The leading lookahead ("a digit somewhere in this word") runs at every boundary of every line: written
# possessively over the non-digit part of [\w.+-] it never backtracks (same language, ~20% faster pass).
_VALUE = (
    r"(?=[A-Za-z_.+-]*+\d)"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}(?=:\d)"  # an IP before its port: "<*>:8080" masks like "ip:port"
    rf"|{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
    r"|(?:\d{1,3}\.){3}\d{1,3}"
    r"|[-+]?\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d|min|mins|sec|secs|[KMGTPkmgt]i?[Bb]?|B|%)?"
    r"|[A-Za-z0-9_]*\d{4,}[A-Za-z0-9_]*"
    r"|(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,})"
    r"(?=[\s=,;|)\]}\"'，；）】、]|$)"
)
# The pattern starts with a character class so the regex engine can skip ahead in C; the boundary is
# captured and put back (a function replacement is much faster than a "\1" template in CPython 3.11).
_PREMASK = re.compile(r"([\s=,;|(\[{\"'，；（【、])" + _VALUE, re.ASCII)
_PREMASK_JSON = re.compile(r"(\":)" + _VALUE, re.ASCII)


def _keep_boundary(m: re.Match[str]) -> str:
    return m[1] + WILDCARD


def mask_message(message: str) -> str:
    """The multi-token MESSAGE_RULES (guarded, so usually free), then the standalone-value pre-pass."""
    for guard, rx, repl in _MESSAGE_RES:
        if guard in message if isinstance(guard, str) else guard.search(message):
            message = rx.sub(repl, message)
    message = _PREMASK.sub(_keep_boundary, " " + message)[1:]
    if '":' in message:
        message = _PREMASK_JSON.sub(_keep_boundary, message)
    return message


def _mask_subpieces(piece: str) -> str:
    parts = _SUB_SPLIT.split(piece)
    out = []
    for part in parts:
        if not part or part in SUBPIECE_DELIMITERS or not _DIGIT.search(part):
            out.append(part)
        elif part.isdigit() or not _LETTER.search(part):
            out.append(WILDCARD)  # digits with at most punctuation: "42", "1>", "**3"
        elif _NON_ASCII_LETTER.search(part):
            out.append(_DIGIT_RUN.sub(WILDCARD, part))  # "用户123下单" → "用户<*>下单"
        elif _PIECE_RE.fullmatch(part) or _LONG_DIGITS.search(part):
            out.append(WILDCARD)  # "ORD20240501", "E1005": an id, not a word
        else:
            out.append(part)
    return collapse("".join(out))


def mask_piece(piece: str) -> str:
    """Mask one piece that contains no PIECE_DELIMITERS."""
    m = _PIECE_RE.fullmatch(piece)
    if m is not None:
        return _PIECE_REPL[m.lastgroup]  # type: ignore[index]
    if not _DIGIT.search(piece):
        return piece
    if not _LETTER.search(piece):
        return WILDCARD  # digits and punctuation only: "-17>", "3/4", "**3"
    return _mask_subpieces(piece)


# A bracket or quote pair standing alone holds an empty value ("connection from 1.2.3.4 () at …"): the
# same slot as "(host.example.com)". Attached to a name ("init()") it is a call and stays literal.
_EMPTY_VALUES = frozenset({"()", "[]", "{}", '""', "''", "<>"})


def mask_token(token: str) -> str:
    """Mask one whitespace token; returns it unchanged when nothing in it looks like a value."""
    if token.isdigit():
        return WILDCARD
    if token in _EMPTY_VALUES:
        return token[0] + WILDCARD + token[1]
    if not _INTERESTING.search(token):
        return _LIST.sub(WILDCARD, token) if ",<*>" in token else token
    start, end = 0, len(token)
    while start < end and token[start] in _OPEN:
        start += 1
    while end > start and token[end - 1] in _CLOSE:
        end -= 1
    core = token[start:end]
    if core and (":" in core or "/" in core):
        for rx, repl in _TOKEN_RES:
            m = rx.fullmatch(core)
            if m is not None:
                return token[:start] + (repl if isinstance(repl, str) else repl(m)) + token[end:]
    parts = _PIECE_SPLIT.split(token)
    if len(parts) == 1:
        return mask_piece(token)
    masked = "".join(p if (not p or p in PIECE_DELIMITERS) else mask_piece(p) for p in parts)
    return _LIST.sub(WILDCARD, masked) if ",<*>" in masked else masked


def split_pieces(shape: str) -> tuple[str, ...]:
    """Split a masked message into positions: pieces and delimiters; a piece that followed whitespace
    carries one leading space so the template renders with its spacing."""
    out: list[str] = []
    for i, token in enumerate(shape.split()):
        first = True
        for part in _PIECE_SPLIT.split(token):
            if not part:
                continue
            out.append(" " + part if (first and i) else part)
            first = False
    return tuple(out)


def split_subpieces(piece: str) -> list[str]:
    return [p for p in _SUB_SPLIT.split(piece) if p]


def has_digit(text: str) -> bool:
    return _DIGIT.search(text.replace(WILDCARD, "")) is not None


# ----------------------------------------------------------------- digit keys (a cache key, not a rule)
# Every rule above sees an ASCII digit only as "a digit" (\d, 0-9 inside a class, counted runs), never as
# a particular one, with one exception: the hex prefix "0x"/"0X". So two messages that differ only in
# which ASCII digits they hold are masked by the same decisions, and when the resulting shape keeps no
# ASCII digit (none was copied through as a literal, as in "ssh2") their shapes are equal. The miner
# uses that to recognise most lines from this key alone, before any regex (see ``TemplateMiner``).
# tests/mining/test_masking.py checks the rule patterns for digit-specific classes.
DIGIT_SENSITIVE: tuple[bytes, ...] = (b"0x", b"0X")
DIGIT_KEY_TABLE = bytes.maketrans(b"123456789", b"000000000")
_ASCII_DIGIT = re.compile(r"[0-9]")


def digit_key(message: str) -> bytes:
    """The message as UTF-8 with every ASCII digit turned into ``0`` (two C calls, ~0.3 µs a line).

    Multi-byte UTF-8 sequences never contain ASCII bytes, so only real digits change; ``surrogatepass``
    keeps lines decoded with ``surrogateescape`` from raising."""
    return message.encode("utf-8", "surrogatepass").translate(DIGIT_KEY_TABLE)


def digit_key_decides(key: bytes, shape: str) -> bool:
    """May every message with this digit key be given this shape? (See the note above.)"""
    return _ASCII_DIGIT.search(shape) is None and not any(s in key for s in DIGIT_SENSITIVE)

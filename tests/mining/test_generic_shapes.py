"""Shapes none of the nine shared Loghub-2k sets has much of (syslog auth and ftp lines, proxy connections,
cron, NTP, DHCP), generated with random values: the miner must group each family into one template.

Written from general knowledge of these daemons' messages, not from any labelled data set; it checks that the
generic rules (dates in words, host and file names, empty slots, account names, the long-tail merge) work
together inside the miner. It is a regression check, not an accuracy estimate (that is bench/RESULTS.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agents.mining import TemplateMiner
from agents.mining.evaluate import grouping_accuracy

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
USERS = ["root"] * 12 + ["cyrus", "news", "alice", "bob", "git", "mysql", "oracle", "test", "guest", "nagios"]
PROGRAMS = ["chrome.exe"] * 6 + [
    "firefox.exe",
    "Dropbox.exe",
    "WeChat.exe",
    "svchost.exe",
    "git-remote-https.exe",
]
DOMAINS = ["example.com", "example.net", "cdn.example.org", "mail.example.co.uk", "cloud.example.cn"]


def _gen(r: random.Random) -> list[tuple[str, str]]:
    def ip() -> str:
        return ".".join(str(r.randint(1, 254)) for _ in range(4))

    def host() -> str:
        return r.choice(
            [
                f"{r.choice(['www', 'api', 'static', 'login'])}.{r.choice(DOMAINS)}",
                f"ip-{r.randint(1, 254)}-{r.randint(1, 254)}-{r.randint(1, 254)}.dyn.{r.choice(DOMAINS)}",
            ]
        )

    def when() -> str:
        return (
            f"{r.choice(WEEKDAYS)} {r.choice(MONTHS)} {r.randint(1, 28):2d} "
            f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} {r.randint(2004, 2026)}"
        )

    families: dict[str, Callable[[], str]] = {
        "pam_fail": lambda: (
            f"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost={r.choice([ip(), host()])}"
        ),
        "session_open": lambda: (
            f"session opened for user {r.choice(USERS)} by (uid={r.choice([0, 0, 0, 500])})"
        ),
        "session_close": lambda: f"session closed for user {r.choice(USERS)}",
        "ftp_conn": lambda: f"connection from {ip()} ({r.choice([host(), ''])}) at {when()}",
        "proxy_open": lambda: (
            f"{r.choice(PROGRAMS)} - {host()}:{r.choice([80, 443, 5070])} open through proxy "
            f"proxy.{r.choice(DOMAINS)}:5070 HTTPS"
        ),
        "cron": lambda: (
            f"({r.choice(USERS)}) CMD (run-parts /etc/cron.{r.choice(['hourly', 'daily', 'weekly'])})"
        ),
        "ntp": lambda: f"synchronized to {ip()}, stratum {r.randint(1, 4)}",
        "dhcp": lambda: (
            f"DHCPACK on {ip()} to {':'.join(f'{r.randint(0, 255):02x}' for _ in range(6))} via eth0"
        ),
    }
    names = list(families)
    # bursts, as real logs have: one family repeated a few times in a row
    out: list[tuple[str, str]] = []
    while len(out) < 900:
        name = r.choice(names)
        out += [(families[name](), name) for _ in range(r.randint(1, 12))]
    return out


def test_generic_daemon_shapes_group_into_one_template_per_family():
    lines = _gen(random.Random(11))
    miner = TemplateMiner()
    ids = miner.add_many([m for m, _ in lines])
    truth = [name for _, name in lines]
    ga = grouping_accuracy(truth, ids)
    families = {
        name: {miner.template(i) for i, (_, n) in zip(ids, lines, strict=True) if n == name}
        for name in set(truth)
    }
    assert ga >= 0.95, {k: sorted(v)[:3] for k, v in families.items() if len(v) > 1}
    assert miner.template(ids[truth.index("ftp_conn")]) == "connection from <*> (<*>) at <*>"

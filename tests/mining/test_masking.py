"""Masking rules: values become <*>, the punctuation around them stays (Loghub-2.0 conventions)."""

import pytest

from agents.mining.masking import PIECE_RULES, TOKEN_RULES, mask_message, mask_token, split_pieces


@pytest.mark.parametrize(
    ("token", "masked"),
    [
        ("12345", "<*>"),
        ("10.251.71.16:50010", "<*>:<*>"),
        ("/10.10.34.11:45307", "<*>:<*>"),
        ("msra-sa-41:9000", "<*>:<*>"),
        ("hdfs://msra-sa-41:9000", "hdfs://<*>:<*>"),
        ("https://shop.example.com/api/v1/orders?id=3", "https://<*>"),
        ("blk_-6952295868487656571", "<*>"),
        ("appattempt_1445144423722_0020_000001", "<*>"),
        ("b9000564-fe1a-409b-b8cc-1e88b294cd1d]", "<*>]"),
        ("0x00004ed8", "<*>"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "<*>"),
        ("/etc/httpd/conf/workers2.properties", "<*>"),
        ("node-246", "node-<*>"),
        ("uid=0", "uid=<*>"),
        ("35ms", "<*>"),
        ("1.5GiB", "<*>"),
        ("v1.2.3", "<*>"),
        ("2024-05-01T10:00:00.123Z", "<*>"),
        ("alice@example.com", "<*>"),
        ("order-api-7d9f8c6b5-x2x4q", "<*>"),
        ("shop/order-api-7d9f8c6b5-x2x4q", "<*>"),
        ("(uid=0)", "(uid=<*>)"),
        ("金额12345元，", "金额<*>元，"),
        # host names, file names, empty slots, the common-log-format time (generic log shapes)
        ("proxy.cse.cuhk.edu.hk:5070", "<*>:<*>"),
        ("(ns.example.com)", "(<*>)"),
        ("rhost=ip-216-69-148-29.ip.secureserver.net", "rhost=<*>"),
        ("chrome.exe", "<*>"),
        ("log4j.properties", "<*>"),
        ("()", "(<*>)"),
        ("[10/Oct/2000:13:55:36", "[<*>"),
        # literals stay literal
        ("init()", "init()"),
        ("java.lang.NullPointerException:", "java.lang.NullPointerException:"),
        ("sshd.service", "sshd.service"),
        ("ssh2", "ssh2"),
        ("jk2_init()", "jk2_init()"),
        ("type:create", "type:create"),
        ("order-api", "order-api"),
        ("Back-off", "Back-off"),
    ],
)
def test_mask_token(token: str, masked: str) -> None:
    assert mask_token(token) == masked


def test_message_rules_image_and_http_request_line():
    assert (
        mask_message('Back-off pulling image "registry.io/team/app:v1.2.3"') == 'Back-off pulling image "<*>"'
    )
    assert mask_message('10.0.0.1 "GET /v2/servers/detail HTTP/1.1" status: 200').startswith(
        '<*> "GET <*>" status: <*>'
    )


def _shape(message: str) -> str:
    return " ".join(mask_token(t) for t in mask_message(message).split())


@pytest.mark.parametrize(
    ("message", "shape"),
    [
        ("connection from 1.2.3.4 () at Sat Jun 18 01:30:59 2005", "connection from <*> (<*>) at <*>"),
        ("status=M Fri Jul 01 08:16:53 PDT 2005", "status=M <*>"),
        ("Jun 14 15:16:01 combo sshd[1]: ok", "<*> combo sshd[<*>]: ok"),
        ("sent Mon, 7 Dec 2026 10:00:00 +0800", "sent <*>"),
        ("session opened for user cyrus by (uid=0)", "session opened for user <*> by (uid=<*>)"),
        ("Invalid user admin from 1.2.3.4", "Invalid user <*> from <*>"),
        (
            "logname= uid=0 ruser= rhost=h.example.net user=alice",
            "logname= uid=<*> ruser= rhost=<*> user=<*>",
        ),
        # words that continue the sentence are not account names; a month word without a time is no date
        ("check pass; user unknown", "check pass; user unknown"),
        ("user not found in May", "user not found in May"),
    ],
)
def test_message_rules_dates_and_account_names(message: str, shape: str) -> None:
    assert _shape(message) == shape


def test_standalone_prepass_agrees_with_token_masking():
    msg = 'order_id=ORD20240501919387 took 35ms {"count":12} trace=4bf92f3577b34da6 port 8080'
    assert " ".join(mask_token(t) for t in mask_message(msg).split()) == " ".join(
        mask_token(t) for t in msg.split()
    )


def test_pieces_keep_delimiters_and_spacing():
    assert split_pieces("uid=<*> euid=<*> tty=ssh") == (
        "uid",
        "=",
        "<*>",
        " euid",
        "=",
        "<*>",
        " tty",
        "=",
        "ssh",
    )


def test_rules_are_data_with_unique_names():
    names = [r.name for r in (*TOKEN_RULES, *PIECE_RULES)]
    assert len(names) == len(set(names))


def test_rules_see_ascii_digits_only_as_a_class():
    """The miner's digit-key cache relies on it (see masking.digit_key): a rule that tells "1" from "7"
    (say ``[1-9]``) must add its case to DIGIT_SENSITIVE, as "0x" is."""
    import re

    from agents.mining.masking import _VALUE, MESSAGE_RULES

    patterns = [r.pattern for r in (*TOKEN_RULES, *PIECE_RULES)] + [r.pattern for _, r in MESSAGE_RULES]
    for pattern in [*patterns, _VALUE]:
        rest = re.sub(r"0-9|\{\d+(?:,\d*)?\}|0\[xX\]", "", pattern)  # digit classes, counts, the hex prefix
        assert not re.search(r"[0-9]", rest), pattern


def test_messages_differing_only_in_digits_share_a_shape_when_the_key_decides():
    """The property behind the digit-key cache, checked on every Loghub-2k line with its digits changed."""
    import random

    from agents.mining.evaluate import find_datasets, load_dataset
    from agents.mining.masking import digit_key, digit_key_decides
    from tests.paths import DATASETS

    loghub = DATASETS / "loghub2k"
    if not loghub.is_dir():
        pytest.skip("shared Loghub-2k data not present")

    def shape(message: str) -> str:
        return " ".join(mask_token(t) for t in mask_message(message).split())

    rng = random.Random(3)
    decided = 0
    for path in find_datasets([loghub]):
        for message in load_dataset(path).messages[::4]:
            key = digit_key(message)
            if not digit_key_decides(key, shape(message)):
                continue
            decided += 1
            other = "".join(rng.choice("0123456789") if c in "0123456789" else c for c in message)
            assert digit_key(other) == key
            assert shape(other) == shape(message), (message, other)
    assert decided > 1000


def test_a_hex_prefix_or_a_kept_digit_stops_the_digit_key():
    from agents.mining.masking import digit_key, digit_key_decides

    assert digit_key("took 35ms, ３ tries") == "took 00ms, ３ tries".encode()  # only ASCII digits change
    assert digit_key_decides(digit_key("took 35ms"), "took <*>")
    assert not digit_key_decides(digit_key("0x1f found"), "<*> found")  # "1x1f" would stay literal
    assert not digit_key_decides(digit_key("via ssh2"), "via ssh2")

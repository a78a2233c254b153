"""CosSource through the real cos-python-sdk-v5 against a local COS server that verifies its signatures."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
from collections.abc import Iterator
from datetime import date

import pytest
import requests
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from agents.parsers import ParseStats
from agents.records import LogKind
from agents.sources import ObjectRef, SourceConfig, SourceError
from agents.sources.base import RetryPolicy
from agents.sources.cos import CosCredentials, CosSource
from tests.fakes.cos_server import FakeCosServer

DAY = date(2024, 6, 1)
REGION = "ap-guangzhou"
ALICE = ("AKIDalice000000000000000000000000000", "alice-secret-key-DO-NOT-LOG-1234567")
BOB = ("AKIDbob00000000000000000000000000000", "bob-secret-key-DO-NOT-LOG-7654321")
_ids = itertools.count()


def lines(n: int, start: int = 0, hour: int = 3) -> bytes:
    return "".join(
        json.dumps(
            {
                "time": f"2024-06-01T{hour:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "level": "error",
                "msg": f"m{i}",
            }
        )
        + "\n"
        for i in range(start, start + n)
    ).encode()


@pytest.fixture(scope="module")
def cos() -> Iterator[FakeCosServer]:
    with FakeCosServer(region=REGION) as server:
        server.add_user(*ALICE)
        server.add_user(*BOB)
        yield server


@pytest.fixture
def bucket(cos: FakeCosServer) -> str:
    name = f"alice{next(_ids)}-1250000000"
    cos.add_bucket(name, [ALICE[0]])
    return name


def source(cos: FakeCosServer, bucket: str, key: tuple[str, str] = ALICE, **kw) -> CosSource:  # type: ignore[no-untyped-def]
    creds = CosCredentials(
        secret_id=key[0],
        secret_key=key[1],
        region=REGION,
        bucket=bucket,
        scheme="http",
        ip="127.0.0.1",
        port=cos.port,
        token=kw.pop("token", None),
    )
    return CosSource(creds, SourceConfig(timezone="UTC"), retry=RetryPolicy(sleep=lambda s: None), **kw)


def test_day_of_gzip_and_plain_objects_through_the_sdk(cos: FakeCosServer, bucket: str) -> None:
    cos.put(bucket, "business/2024/06/01/03/202406010305_a.gz", gzip.compress(lines(300)))
    cos.put(bucket, "business/2024/06/01/04/202406010405_b.log", lines(5, 300, hour=4))
    cos.put(bucket, "business/2024/06/02/00/202406020005_c.gz", gzip.compress(lines(7)))  # next day
    cos.put(bucket, "k8s-event/2024/06/01/03/202406010305_e.gz", gzip.compress(b"{}\n"))  # other kind
    src = source(cos, bucket)
    refs = src.list_objects(LogKind.BUSINESS, DAY)
    assert [r.key for r in refs] == [
        "business/2024/06/01/03/202406010305_a.gz",
        "business/2024/06/01/04/202406010405_b.log",
    ]
    assert refs[0].size > 0 and refs[0].etag and refs[0].last_modified > 0
    stats = ParseStats()
    recs = list(src.iter_records("business", DAY, stats))
    assert [r.message for r in recs] == [f"m{i}" for i in range(305)]
    assert stats.bad == 0 and stats.errors == [] and all(r.level == "ERROR" for r in recs)


def test_unicode_keys_with_spaces_and_plus_are_signed_correctly(cos: FakeCosServer, bucket: str) -> None:
    key = "business/2024/06/01/05/日志 a+b=c&d.log"
    cos.put(bucket, key, lines(2))
    src = source(cos, bucket)
    assert [r.key for r in src.list_objects("business", DAY)] == [key]
    assert len(list(src.open_lines(ObjectRef(key, LogKind.BUSINESS)))) == 2


def test_listing_pages_past_1000_objects(cos: FakeCosServer, bucket: str) -> None:
    for i in range(1205):
        cos.put(bucket, f"business/2024/06/01/07/202406010700_{i:05d}.log", b"")
    before = len(cos.requests)
    refs = source(cos, bucket).list_objects("business", DAY)
    assert len(refs) == 1205 and len({r.key for r in refs}) == 1205
    pages = [r for r in cos.requests[before:] if r.query.get("prefix") == "business/2024/06/01/07/"]
    assert [r.query["max-keys"] for r in pages] == ["1000", "1000"] and pages[1].query["marker"]


def test_small_pages_and_the_last_key_fallback_without_next_marker(cos: FakeCosServer, bucket: str) -> None:
    for i in range(23):
        cos.put(bucket, f"business/2024/06/01/08/202406010800_{i:03d}.log", b"")
    cos.omit_next_marker = True
    try:
        refs = source(cos, bucket, page_size=5).list_objects("business", DAY)
    finally:
        cos.omit_next_marker = False
    assert [r.key[-7:] for r in refs] == [f"{i:03d}.log" for i in range(23)]


def test_empty_day_is_empty_not_an_error(cos: FakeCosServer, bucket: str) -> None:
    src = source(cos, bucket)
    assert src.list_objects("audit", DAY) == []
    assert list(src.iter_records("audit", DAY)) == []


def test_wrong_secret_gets_signature_does_not_match(cos: FakeCosServer, bucket: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    wrong = (ALICE[0], "not-the-right-secret-key-XYZ")
    with pytest.raises(SourceError) as err:
        source(cos, bucket, key=wrong).list_objects("business", DAY)
    assert err.value.code == "SignatureDoesNotMatch" and err.value.status == 403
    assert bucket in str(err.value)
    for secret in (wrong[1], ALICE[1]):
        assert secret not in str(err.value) and secret not in repr(err.value) and secret not in caplog.text


def test_the_fake_rejects_a_signature_reused_for_another_key(cos: FakeCosServer, bucket: str) -> None:
    cos.put(bucket, "a.log", b"a\n")
    cos.put(bucket, "b.log", b"b\n")
    cfg = CosConfig(Region=REGION, SecretId=ALICE[0], SecretKey=ALICE[1], Scheme="http")
    auth = CosS3Client(cfg).get_auth(Method="GET", Bucket=bucket, Key="a.log")
    host = f"{bucket}.cos.{REGION}.myqcloud.com"
    ok = requests.get(
        f"http://127.0.0.1:{cos.port}/a.log", headers={"Host": host, "Authorization": auth}, timeout=5
    )
    assert ok.status_code == 200 and ok.content == b"a\n"
    bad = requests.get(
        f"http://127.0.0.1:{cos.port}/b.log", headers={"Host": host, "Authorization": auth}, timeout=5
    )
    assert bad.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in bad.text


def test_no_such_key(cos: FakeCosServer, bucket: str) -> None:
    with pytest.raises(SourceError) as err:
        source(cos, bucket).open_lines(ObjectRef("business/missing.gz", LogKind.BUSINESS))
    assert (err.value.code, err.value.status, err.value.key) == ("NoSuchKey", 404, "business/missing.gz")
    assert err.value.request_id


def test_5xx_is_retried_then_succeeds_and_4xx_is_not_retried(cos: FakeCosServer, bucket: str) -> None:
    key = "business/2024/06/01/09/202406010900_r.log"
    cos.put(bucket, key, lines(3))
    src = source(cos, bucket)
    ref = ObjectRef(key, LogKind.BUSINESS)
    cos.fail(key, status=503, times=2, bucket=bucket)
    assert len(list(src.open_lines(ref))) == 3
    assert [r.status for r in cos.requests_for(key)] == [503, 503, 200]

    cos.fail(key, status=403, times=1, bucket=bucket)
    with pytest.raises(SourceError) as err:
        src.open_lines(ref)
    assert err.value.code == "AccessDenied"
    assert [r.status for r in cos.requests_for(key)][3:] == [403]  # one try only

    cos.fail(key, status=500, times=10, bucket=bucket)
    with pytest.raises(SourceError) as err:
        src.open_lines(ref)
    assert err.value.code == "InternalError" and err.value.status == 500
    assert [r.status for r in cos.requests_for(key)][4:] == [500] * 4  # RetryPolicy.attempts
    cos.faults.clear()


def test_retry_backoff_grows() -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=3.0, sleep=delays.append)
    assert [policy.delay(i) for i in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_range_get_and_head_through_the_sdk(cos: FakeCosServer, bucket: str) -> None:
    cos.put(bucket, "blob.bin", bytes(range(256)) * 4)
    client = CosS3Client(
        CosConfig(
            Region=REGION, SecretId=ALICE[0], SecretKey=ALICE[1], Scheme="http", IP="127.0.0.1", Port=cos.port
        ),
        retry=0,
    )
    part = client.get_object(Bucket=bucket, Key="blob.bin", Range="bytes=10-19")
    assert part["Content-Range"] == "bytes 10-19/1024" and part["Body"].get_raw_stream().read() == bytes(
        range(10, 20)
    )
    assert client.head_object(Bucket=bucket, Key="blob.bin")["Content-Length"] == "1024"
    with pytest.raises(CosServiceError) as err:
        client.get_object(Bucket=bucket, Key="blob.bin", Range="bytes=5000-")
    assert err.value.get_status_code() == 416 and err.value.get_error_code() == "InvalidRange"


def test_dropped_body_is_resumed_with_a_range_get(cos: FakeCosServer, bucket: str) -> None:
    key = "business/2024/06/01/10/202406011000_t.gz"
    data = gzip.compress(lines(5000), compresslevel=1)
    cos.put(bucket, key, data)
    cos.truncate(key, after=len(data) // 3, times=1, bucket=bucket)
    stats = ParseStats()
    recs = list(source(cos, bucket).iter_records("business", DAY, stats))
    assert [r.message for r in recs] == [f"m{i}" for i in range(5000)] and stats.errors == []
    gets = cos.requests_for(key)
    assert [g.range for g in gets] == ["", f"bytes={len(data) // 3}-"] and gets[1].status == 206


def test_body_that_keeps_dropping_keeps_what_arrived(cos: FakeCosServer, bucket: str) -> None:
    key = "business/2024/06/01/11/202406011100_t.gz"
    data = gzip.compress(lines(5000), compresslevel=1)
    cos.put(bucket, key, data)
    cos.truncate(key, after=len(data) // 2, times=1, bucket=bucket)
    cos.fail(key, status=503, times=50, bucket=bucket)  # every resume attempt fails
    stats = ParseStats()
    recs = list(source(cos, bucket).iter_records("business", DAY, stats))
    cos.faults.clear()
    assert 100 < len(recs) < 5000 and recs[0].message == "m0"
    assert len(stats.errors) == 1 and key in stats.errors[0]


def test_corrupt_gzip_object_keeps_records_before_the_damage(cos: FakeCosServer, bucket: str) -> None:
    data = gzip.compress(lines(3000), compresslevel=1)
    cos.put(bucket, "business/2024/06/01/12/202406011200_x.gz", data[: len(data) // 2])
    cos.put(bucket, "business/2024/06/01/13/202406011300_y.gz", gzip.compress(lines(1, 7777)))
    stats = ParseStats()
    recs = list(source(cos, bucket).iter_records("business", DAY, stats))
    assert recs[0].message == "m0" and recs[-1].message == "m7777" and 500 < len(recs) < 3001
    assert len(stats.errors) == 1 and "truncated" in stats.errors[0]


def test_two_owners_are_isolated(cos: FakeCosServer) -> None:
    alice_bucket, bob_bucket = "alice-iso-1250000000", "bob-iso-1250000001"
    cos.add_bucket(alice_bucket, [ALICE[0]])
    cos.add_bucket(bob_bucket, [BOB[0]])
    cos.put(alice_bucket, "business/2024/06/01/01/202406010100_a.log", lines(1))
    cos.put(bob_bucket, "business/2024/06/01/01/202406010100_b.log", lines(2))
    assert len(list(source(cos, alice_bucket).iter_records("business", DAY))) == 1
    assert len(list(source(cos, bob_bucket, key=BOB).iter_records("business", DAY))) == 2
    with pytest.raises(SourceError) as err:
        source(cos, alice_bucket, key=BOB).list_objects("business", DAY)
    assert err.value.code == "AccessDenied" and BOB[1] not in str(err.value)
    with pytest.raises(SourceError) as err:
        source(cos, "nobody-1250000000").list_objects("business", DAY)
    assert err.value.code == "NoSuchBucket"


def test_temporary_credentials_sign_the_token_and_never_log_it(cos: FakeCosServer, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    sid, skey, token = (
        "AKIDtemp0000000000000000000000000000",
        "temp-secret-DO-NOT-LOG",
        "session-token-DO-NOT-LOG",
    )
    cos.add_user(sid, skey, token=token)
    cos.add_bucket("tmp-1250000000", [sid])
    cos.put("tmp-1250000000", "business/2024/06/01/02/202406010200_a.log", lines(1))
    good = source(cos, "tmp-1250000000", key=(sid, skey), token=token)
    assert len(list(good.iter_records("business", DAY))) == 1
    with pytest.raises(SourceError) as err:
        source(cos, "tmp-1250000000", key=(sid, skey), token="stale-token").list_objects("business", DAY)
    assert err.value.code == "InvalidAccessKeyId"
    assert token not in caplog.text and skey not in caplog.text and "stale-token" not in str(err.value)
    assert skey not in repr(good.creds) and token not in repr(good.creds)

"""TemplateMiner behaviour on realistic k8s / business lines it has never seen."""

import json
from pathlib import Path

from agents.mining import FilePersistence, MemoryPersistence, TemplateMiner

K8S = [
    ('Back-off pulling image "registry.example.com/shop/order-api:v1.4.2"', "pull"),
    ('Back-off pulling image "nginx:1.25.3"', "pull"),
    (
        'Back-off pulling image "registry.example.com/pay/payment-svc@sha256:9f86d081884c7d659a2feaa0c55ad015"',
        "pull",
    ),
    ("0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint.", "sched"),
    ("0/7 nodes are available: 1 Insufficient memory, 6 node(s) had untolerated taint.", "sched"),
    ("Successfully assigned shop/order-api-7d9f8c6b5-x2x4q to node-3", "assign"),
    ("Successfully assigned pay/payment-svc-5c6d7e8f9a-k8j2m to node-12", "assign"),
    ("Readiness probe failed: HTTP probe failed with statuscode: 503", "probe"),
    ("Readiness probe failed: HTTP probe failed with statuscode: 500", "probe"),
    ("update deployments shop/order-api by alice", "audit-alice"),
    (
        "order created order_id=ORD20240501919387 user_id=u_10234 cost=35ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
        "order",
    ),
    (
        "order created order_id=ORD20240501000001 user_id=u_99999 cost=2.5s trace_id=00f067aa0ba902b7a3ce929d0e0e4736",
        "order",
    ),
    ("用户 u_10234 下单成功，订单号 ORD20240501919387，耗时 35ms", "zh-order"),
    ("用户 u_55501 下单成功，订单号 ORD20240501000002，耗时 120ms", "zh-order"),
    ("用户 u_10234 登录失败：密码错误", "zh-login"),
    ("Started container order-api", "started-order"),
    ("Started container payment-svc", "started-pay"),  # two names of a small vocabulary stay literal
]


def _groups(miner: TemplateMiner, ids: list[int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for (_, label), tid in zip(K8S, ids, strict=True):
        out.setdefault(label, set()).add(miner.canonical(tid))
    return out


def test_unseen_k8s_and_business_lines_group_by_meaning():
    miner = TemplateMiner()
    ids = [miner.add(m) for m, _ in K8S]
    groups = _groups(miner, ids)
    # each label maps to one template, and no template is shared by two labels
    assert all(len(g) == 1 for g in groups.values()), groups
    assert len({next(iter(g)) for g in groups.values()}) == len(groups)
    text = {label: miner.template(next(iter(g))) for label, g in groups.items()}
    assert text["pull"] == 'Back-off pulling image "<*>"'
    assert text["assign"] == "Successfully assigned <*> to node-<*>"
    assert text["order"] == "order created order_id=<*> user_id=<*> cost=<*> trace_id=<*>"
    assert text["zh-order"] == "用户 <*> 下单成功，订单号 <*>，耗时 <*>"
    assert text["probe"] == "Readiness probe failed: HTTP probe failed with statuscode: <*>"


def test_a_varying_word_becomes_a_parameter_but_a_small_vocabulary_stays_literal():
    miner = TemplateMiner()
    users = [
        f"{name}{suffix}"
        for name in ("web", "test", "oracle", "guest", "pg")
        for suffix in ("", "x", "adm", "ops")
    ]
    ids = [miner.add(f"Invalid user {u} from 10.0.0.{i}") for i, u in enumerate(users)]
    assert len({miner.canonical(t) for t in ids}) == 1
    assert miner.template(ids[0]) == "Invalid user <*> from <*>"
    # states repeat many times: they are part of the template, not values
    states = [
        miner.add(f"[instance: {i:08x}-aaaa-bbbb-cccc-1e88b294cd1d] VM {s} (Lifecycle Event)")
        for i in range(40)
        for s in ("Started", "Paused", "Resumed", "Stopped")
    ]
    assert len({miner.canonical(t) for t in states}) == 4


def test_a_long_tail_of_rare_words_is_a_parameter_even_behind_one_frequent_value():
    """Account names: one is frequent (root), the others appear once or twice: values, not structure."""
    miner = TemplateMiner()
    ids = [
        miner.add(f"Failed password for root from 10.0.0.{i % 250} port {4000 + i} ssh2") for i in range(300)
    ]
    ids += [
        miner.add(f"Failed password for {u} from 10.0.1.1 port 5000 ssh2")
        for u in ("git", "mysql", "ftp", "oracle")
    ]
    ids += [miner.add(f"Failed password for {u} from 10.0.1.2 port 5001 ssh2") for u in ("uucp", "nagios")]
    assert len({miner.canonical(t) for t in ids}) == 1
    assert miner.template(ids[0]) == "Failed password for <*> from <*> port <*> ssh2"


def test_ids_survive_merges_and_templates_report_counts_and_first_example():
    miner = TemplateMiner()
    first = miner.add("Login of webmaster from 10.0.0.1")
    second = miner.add("Login of test from 10.0.0.2")
    assert miner.canonical(first) != miner.canonical(second)  # two words: no evidence yet
    for i in range(20):
        miner.add(f"Login of user{chr(97 + i)} from 10.0.0.2")
    assert miner.canonical(first) == miner.canonical(second) == first  # the oldest id survives
    assert miner.template(second) == "Login of <*> from <*>"
    (tpl,) = miner.templates()
    assert (tpl.id, tpl.count, tpl.example) == (first, 22, "Login of webmaster from 10.0.0.1")


def test_match_does_not_learn():
    miner = TemplateMiner()
    tid = miner.add("Started container order-api")
    assert miner.match("Started container order-api") == tid
    assert miner.match("Killing container with id docker://abc") is None
    assert len(miner) == 1
    assert miner.templates()[0].count == 1


def test_add_many_agrees_with_add():
    msgs = [m for m, _ in K8S] * 3
    one, batch = TemplateMiner(), TemplateMiner()
    streamed = [one.canonical(t) for t in [one.add(m) for m in msgs]]
    streamed = [one.canonical(t) for t in streamed]
    assert batch.add_many(msgs) == streamed
    assert [t.text for t in one.templates()] == [t.text for t in batch.templates()]


def test_state_round_trip_through_file(tmp_path: Path):
    path = tmp_path / "miner" / "state.json"
    miner = TemplateMiner(persistence=FilePersistence(path))
    ids = {m: miner.add(m) for m, _ in K8S}
    miner.save()
    assert json.loads(path.read_text("utf-8"))["version"] == 1

    resumed = TemplateMiner(persistence=FilePersistence(path))
    assert [t.text for t in resumed.templates()] == [t.text for t in miner.templates()]
    for m, tid in ids.items():  # same ids, no relearning
        assert resumed.match(m) == miner.canonical(tid)
    before = len(resumed)
    assert resumed.add("Readiness probe failed: HTTP probe failed with statuscode: 404") == miner.match(
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    )
    assert len(resumed) == before


def test_memory_persistence_and_empty_state():
    store = MemoryPersistence()
    fresh = TemplateMiner(persistence=store)  # nothing stored yet: starts empty
    assert len(fresh) == 0
    fresh.add("Started container a")
    fresh.save()
    assert TemplateMiner(persistence=store).templates()[0].text == "Started container a"


def test_unknown_state_version_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="version"):
        TemplateMiner.from_dict({"version": 99})


def test_digit_key_fast_path_changes_no_result_on_loghub(monkeypatch):
    """Every Loghub-2k set mined twice: as shipped, and with the digit-key cache never deciding (every
    line through the full masking). Ids and templates must be identical."""
    import pytest

    import agents.mining.miner as miner_module
    from agents.mining.evaluate import find_datasets, load_dataset
    from tests.paths import DATASETS

    loghub = DATASETS / "loghub2k"
    if not loghub.is_dir():
        pytest.skip("shared Loghub-2k data not present")
    datasets = [load_dataset(p).messages for p in find_datasets([loghub])]
    fast = [TemplateMiner() for _ in datasets]
    fast_ids = [m.add_many(msgs) for m, msgs in zip(fast, datasets, strict=True)]
    assert any(m._digit_keys for m in fast)  # the fast path was really taken
    monkeypatch.setattr(miner_module, "digit_key_decides", lambda key, shape: False)
    for msgs, m, ids in zip(datasets, fast, fast_ids, strict=True):
        slow = TemplateMiner()
        assert slow.add_many(msgs) == ids
        assert not slow._digit_keys
        assert [(t.id, t.text, t.count) for t in slow.templates()] == [
            (t.id, t.text, t.count) for t in m.templates()
        ]

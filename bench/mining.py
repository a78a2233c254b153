"""Template-mining benchmark: ``python -m bench.mining [--lines N] [--seed S] [--cpu C] [--no-loghub]``.

1. Throughput on one core (the process pins itself with ``sched_setaffinity``), measured in-process: a
   synthetic but realistic day of business, Kubernetes event and audit messages (Chinese and English, ids,
   durations, trace ids, pod names, images…) through ``TemplateMiner.add_many`` (batch, the pipeline's
   path) and ``add`` (streaming), each the median of ``--repeat`` fresh miners; Drain3 the same way on
   a slice (it is ~30x slower).
2. Accuracy on Loghub-2k (GA/PA/FGA/FTA), ours next to Drain3 in the same run (speed ratio included), and
   the leave-one-dataset-out estimate (thresholds chosen on the other eight sets for each held-out one).

Drain3 is the optional extra ``eval`` (``pip install -e '.[eval]'``); without it the Drain3 columns are skipped.

``--ablation`` adds, for every masking rule, the GA/PA change on each Loghub set when it alone is left out.

Writes ``bench/results/mining.json`` with the machine (cores, CPU model, load average at start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOGHUB = REPO.parent / "shared" / "datasets" / "loghub2k"
RESULT = REPO / "bench" / "results" / "mining.json"

SERVICES = ["order-api", "payment-svc", "cart", "user-center", "inventory", "gateway", "notify-worker"]
NAMESPACES = ["shop", "pay", "infra"]
USERS = ["alice", "bob", "carol", "ci-bot", "system:serviceaccount:kube-system:deployment-controller"]
TABLES = ["orders", "payments", "users", "sku_stock"]
REGISTRY = "registry.example.com/shop"


class DayGenerator:
    """Deterministic generator of one day of mixed messages (no I/O)."""

    def __init__(self, seed: int = 7) -> None:
        self.r = random.Random(seed)
        r = self.r
        self.pods = {
            s: [f"{s}-{self._hex(9)}-{self._suffix()}" for _ in range(r.randint(2, 5))] for s in SERVICES
        }
        self.nodes = [f"node-{i}" for i in range(1, 9)]
        self.versions = [f"v1.{r.randint(0, 9)}.{r.randint(0, 30)}" for _ in range(6)]
        self.templates: list[tuple[float, Callable[[], str]]] = [
            (18, self._order_created),
            (10, self._zh_order),
            (9, self._http_access),
            (6, self._json_like),
            (5, self._payment_callback),
            (4, self._db_slow),
            (3, self._zh_login),
            (3, self._cache_miss),
            (2, self._error_upstream),
            (4, self._probe_failed),
            (3, self._pulling),
            (2, self._backoff_pull),
            (1, self._failed_pull),
            (2, self._unschedulable),
            (2, self._backoff_restart),
            (3, self._created_started),
            (2, self._scheduled),
            (1, self._scaled),
            (4, self._audit),
            (1, self._oom),
        ]
        total = sum(w for w, _ in self.templates)
        self._weights = [w / total for w, _ in self.templates]
        self._makers = [m for _, m in self.templates]

    # helpers
    def _hex(self, n: int) -> str:
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def _suffix(self) -> str:
        return "".join(self.r.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))

    def _svc(self) -> str:
        return self.r.choice(SERVICES)

    def _pod(self, svc: str | None = None) -> str:
        return self.r.choice(self.pods[svc or self._svc()])

    def _ms(self) -> int:
        return int(self.r.lognormvariate(3.5, 1.0))

    def _uid(self) -> str:
        return f"u_{self.r.randint(10000, 99999)}"

    def _order(self) -> str:
        return f"ORD{self.r.randint(20240501000000, 20240501999999)}"

    def _trace(self) -> str:
        return self._hex(32)

    def _ip(self) -> str:
        return f"10.{self.r.randint(0, 3)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}"

    # business
    def _order_created(self) -> str:
        r = self.r
        return (
            f"order created order_id={self._order()} user_id={self._uid()} amount={r.randint(100, 99999) / 100} "
            f"items={r.randint(1, 9)} cost={self._ms()}ms trace_id={self._trace()}"
        )

    def _zh_order(self) -> str:
        r = self.r
        return r.choice(
            [
                f"用户 {self._uid()} 下单成功，订单号 {self._order()}，金额 {r.randint(100, 99999) / 100} 元，耗时 {self._ms()}ms",
                f"库存扣减成功 sku={r.randint(100000, 999999)} 剩余 {r.randint(0, 500)} 件 trace_id={self._trace()}",
                f"订单 {self._order()} 支付超时，已自动取消",
            ]
        )

    def _http_access(self) -> str:
        r = self.r
        path = r.choice(["/api/v1/orders", "/api/v1/cart/items", "/api/v1/users/me", "/api/v1/pay/notify"])
        if r.random() < 0.4:
            path += f"/{r.randint(1, 999999)}"
        status = r.choices([200, 201, 400, 404, 500, 502], [80, 5, 5, 5, 3, 2])[0]
        return f'{self._ip()} "{r.choice(["GET", "POST", "PUT"])} {path} HTTP/1.1" {status} {r.randint(80, 20000)} {self._ms()}ms'

    def _json_like(self) -> str:
        r = self.r
        return (
            f'{{"event":"{r.choice(["cart_updated", "coupon_applied", "address_saved"])}","user":"{self._uid()}",'
            f'"count":{r.randint(1, 20)},"latency_ms":{self._ms()},"trace":"{self._trace()[:16]}"}}'
        )

    def _payment_callback(self) -> str:
        r = self.r
        if r.random() < 0.8:
            return f"payment callback ok channel={r.choice(['wechat', 'alipay', 'card'])} order={self._order()} took {self._ms()}ms"
        return f"payment callback failed order={self._order()} code=E{r.randint(1000, 1010)} retry={r.randint(1, 5)}/5"

    def _db_slow(self) -> str:
        r = self.r
        return f"slow query on {r.choice(TABLES)} took {r.randint(1000, 9000)}ms rows={r.randint(1, 100000)} conn=db-{r.randint(0, 2)}.mysql.{r.choice(NAMESPACES)}.svc:3306"

    def _zh_login(self) -> str:
        r = self.r
        return r.choice(
            [
                f"用户 {self._uid()} 登录成功 ip={self._ip()}",
                f"用户 {self._uid()} 登录失败：密码错误（第 {r.randint(1, 5)} 次）",
                f"发送短信验证码到 1{r.randint(3000000000, 9999999999)} 成功",
            ]
        )

    def _cache_miss(self) -> str:
        r = self.r
        return f"cache miss key=product:{r.randint(1, 500000)} fallback to db in {self._ms()}ms"

    def _error_upstream(self) -> str:
        r = self.r
        return (
            f"upstream {self._svc()} returned 503 after {r.randint(1, 3)} retries, request_id={self._hex(8)}-"
            f"{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-{self._hex(12)}"
        )

    # k8s events
    def _probe_failed(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return f"Readiness probe failed: HTTP probe failed with statuscode: {r.choice([500, 503])}"
        return f'Liveness probe failed: Get "http://{self._ip()}:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'

    def _image(self) -> str:
        return f"{REGISTRY}/{self._svc()}:{self.r.choice(self.versions)}"

    def _pulling(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return f'Pulling image "{self._image()}"'
        s = r.randint(1, 40000) / 1000
        return f'Successfully pulled image "{self._image()}" in {s}s ({s + 0.1:.3f}s including waiting). Image size: {r.randint(10**7, 10**9)} bytes.'

    def _backoff_pull(self) -> str:
        return f'Back-off pulling image "{self._image()}"'

    def _failed_pull(self) -> str:
        img = self._image()
        return f'Failed to pull image "{img}": rpc error: code = NotFound desc = failed to pull and unpack image "{img}": not found'

    def _unschedulable(self) -> str:
        r = self.r
        a = r.randint(1, 4)
        return (
            f"0/5 nodes are available: {a} Insufficient memory, {5 - a} node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }. preemption: 0/5 nodes are available: "
            "5 No preemption victims found for incoming pod."
        )

    def _backoff_restart(self) -> str:
        svc = self._svc()
        return f"Back-off restarting failed container {svc} in pod {self._pod(svc)}_{self.r.choice(NAMESPACES)}({self._hex(8)}-{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-{self._hex(12)})"

    def _created_started(self) -> str:
        return f"{self.r.choice(['Created', 'Started'])} container {self._svc()}"

    def _scheduled(self) -> str:
        svc = self._svc()
        return f"Successfully assigned {self.r.choice(NAMESPACES)}/{self._pod(svc)} to {self.r.choice(self.nodes)}"

    def _scaled(self) -> str:
        svc = self._svc()
        rs = self._pod(svc).rsplit("-", 1)[0]
        return f"Scaled {self.r.choice(['up', 'down'])} replica set {rs} to {self.r.randint(0, 6)}"

    def _oom(self) -> str:
        return f"Memory cgroup out of memory: Killed process {self.r.randint(1000, 99999)} (java) total-vm:{self.r.randint(10**6, 10**7)}kB"

    # audit summaries
    def _audit(self) -> str:
        r = self.r
        verb = r.choice(["update", "patch", "delete", "create", "get"])
        res = r.choice(["deployments", "configmaps", "secrets", "pods", "services"])
        name = self._svc() if res != "pods" else self._pod()
        msg = f"{verb} {res} {r.choice(NAMESPACES)}/{name} by {r.choice(USERS)}"
        if r.random() < 0.1:
            msg += " (403 Forbidden)"
        return msg

    def lines(self, n: int) -> list[str]:
        makers = self.r.choices(self._makers, self._weights, k=n)
        return [m() for m in makers]


def machine() -> dict[str, object]:
    """What the numbers were measured on: they mean little without it."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def pin_to_one_core(cpu: int | None) -> int | None:
    """Pin this process to one core (the last one allowed unless told): one-core numbers, less noise."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    core = cpu if cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {core})
    return core


def _median_rate(run: Callable[[], object], n_lines: int, repeat: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        rates.append(n_lines / (time.perf_counter() - t0))
    return statistics.median(rates), [round(r) for r in rates]


def throughput(lines: list[str], *, repeat: int = 3, drain3_lines: int = 20_000) -> dict[str, object]:
    from agents.mining import TemplateMiner
    from agents.mining.evaluate import drain3_available, drain3_miner

    def batch() -> None:
        TemplateMiner().add_many(lines)

    def stream() -> None:
        add = TemplateMiner().add
        for line in lines:
            add(line)

    sample = lines[:drain3_lines]
    with_drain3 = drain3_available()

    def drain3() -> None:
        add = drain3_miner().add_log_message
        for line in sample:
            add(line)

    batch_rate, batch_runs = _median_rate(batch, len(lines), repeat)
    stream_rate, stream_runs = _median_rate(stream, len(lines), repeat)
    drain_rate, drain_runs = _median_rate(drain3, len(sample), repeat) if with_drain3 else (0.0, [])
    miner = TemplateMiner()
    miner.add_many(lines)
    drain3_templates = 0
    if with_drain3:
        d3 = drain3_miner()
        for line in sample:
            d3.add_log_message(line)
        drain3_templates = len(d3.drain.clusters)
    return {
        "lines": len(lines),
        "repeat": repeat,
        "templates": len(miner),
        "batch_lines_per_s": round(batch_rate),
        "batch_runs": batch_runs,
        "stream_lines_per_s": round(stream_rate),
        "stream_runs": stream_runs,
        "drain3_lines": len(sample),
        "drain3_lines_per_s": round(drain_rate),
        "drain3_runs": drain_runs,
        "drain3_templates": drain3_templates,
    }


@contextlib.contextmanager
def without_rule(name: str) -> Iterator[None]:
    """The masking tables with one rule left out (bench only: swaps the module's compiled tables)."""
    from agents.mining import masking as m

    saved = (m._TOKEN_RES, m._PIECE_RE, m._PIECE_REPL, m._MESSAGE_RES)
    try:
        m._TOKEN_RES = tuple(
            (re.compile(r.pattern), m.replacer(r.replacement)) for r in m.TOKEN_RULES if r.name != name
        )
        pieces = tuple(r for r in m.PIECE_RULES if r.name != name)
        m._PIECE_RE = m._alternation(pieces)
        m._PIECE_REPL = {f"r{i}": r.replacement for i, r in enumerate(pieces)}
        m._MESSAGE_RES = tuple(
            compiled
            for compiled, (_, rule) in zip(saved[3], m.MESSAGE_RULES, strict=True)
            if rule.name != name
        )
        yield
    finally:
        m._TOKEN_RES, m._PIECE_RE, m._PIECE_REPL, m._MESSAGE_RES = saved


def rule_ablation(paths: list[Path]) -> dict[str, dict[str, list[float]]]:
    """For every masking rule: the GA/PA change on each dataset when that rule alone is left out (changes
    of at least 0.0005 only). A rule that matters on a single dataset is worth a second look."""
    from agents.mining import masking as m
    from agents.mining.evaluate import find_datasets, load_dataset, parse_ours, run

    datasets = [load_dataset(f) for f in find_datasets(paths)]
    base = {d.name: run(parse_ours, d) for d in datasets}
    names = [r.name for r in (*m.TOKEN_RULES, *m.PIECE_RULES)] + [r.name for _, r in m.MESSAGE_RULES]
    out: dict[str, dict[str, list[float]]] = {}
    for name in names:
        with without_rule(name):
            scores = {d.name: run(parse_ours, d) for d in datasets}
        out[name] = {
            ds: [round(s.ga - base[ds].ga, 3), round(s.pa - base[ds].pa, 3)]
            for ds, s in scores.items()
            if abs(s.ga - base[ds].ga) >= 0.0005 or abs(s.pa - base[ds].pa) >= 0.0005
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mining", description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is reported)")
    ap.add_argument("--drain3-lines", type=int, default=20_000, help="Drain3 runs on this many first lines")
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last allowed)")
    ap.add_argument("--no-loghub", action="store_true", help="skip the Loghub accuracy table")
    ap.add_argument("--no-drain3", action="store_true", help="skip Drain3 in the Loghub table")
    ap.add_argument("--ablation", action="store_true", help="also score each masking rule left out")
    ap.add_argument("--show-templates", type=int, default=0, help="print the N most frequent templates")
    ap.add_argument("--out", type=Path, default=RESULT, help="where to write the JSON result")
    args = ap.parse_args(argv)

    host = machine()  # load average before we add our own
    host["pinned_core"] = pin_to_one_core(args.cpu)
    print(
        f"machine: {host['cores']} cores, {host['cpu_model']}, load {host['loadavg_at_start']}, "
        f"pinned to core {host['pinned_core']}"
    )
    t0 = time.perf_counter()
    lines = DayGenerator(args.seed).lines(args.lines)
    print(f"generated {len(lines):,} synthetic lines in {time.perf_counter() - t0:.1f}s")
    res = throughput(lines, repeat=args.repeat, drain3_lines=args.drain3_lines)
    print(
        f"ours   batch  : {res['batch_lines_per_s']:>10,} lines/s  median of {res['batch_runs']}"
        f"  ({res['templates']} templates)\n"
        f"ours   stream : {res['stream_lines_per_s']:>10,} lines/s  median of {res['stream_runs']}\n"
        f"Drain3        : {res['drain3_lines_per_s']:>10,} lines/s  median of {res['drain3_runs']}"
        f"  (first {res['drain3_lines']:,} lines, {res['drain3_templates']} templates)"
    )
    result: dict[str, object] = {"machine": host, "seed": args.seed, "throughput": res}
    if args.show_templates:
        from agents.mining import TemplateMiner

        miner = TemplateMiner()
        miner.add_many(lines)
        for t in sorted(miner.templates(), key=lambda t: -t.count)[: args.show_templates]:
            print(f"{t.count:>8} {t.text}")
    if not args.no_loghub and LOGHUB.is_dir():
        from agents.mining.evaluate import (
            CONFIG_GRID,
            DRAIN3_MISSING,
            average,
            drain3_available,
            evaluate,
            find_datasets,
            format_loo,
            format_table,
            leave_one_out,
            load_dataset,
        )

        with_drain3 = not args.no_drain3 and drain3_available()
        if not args.no_drain3 and not with_drain3:
            print(DRAIN3_MISSING)
        results = evaluate([LOGHUB], with_drain3=with_drain3)
        ours = average([r.ours for r in results])
        drain = average([r.drain3 for r in results if r.drain3]) if with_drain3 else None
        print()
        print(format_table(results))
        ratio = ours.lines_per_s / drain.lines_per_s if drain else None
        if ratio:
            print(f"speed on Loghub-2k: ours {ratio:.1f}x Drain3 (same run)")
        t0 = time.perf_counter()
        folds = leave_one_out([load_dataset(f) for f in find_datasets([LOGHUB])])
        print(
            f"\nleave one dataset out over {len(CONFIG_GRID)} threshold sets ({time.perf_counter() - t0:.0f}s):"
        )
        print(format_loo(folds, ours))
        loo = average([f.test for f in folds])
        result["loghub2k"] = {
            "datasets": {r.name: {"ours": r.ours.as_dict(), "drain3": r.drain3 and r.drain3.as_dict()}
                         for r in results},
            "average_ours": ours.as_dict(),
            "average_drain3": drain.as_dict() if drain else None,
            "speed_ratio_vs_drain3": round(ratio, 2) if ratio else None,
            "leave_one_out": {
                "grid_size": len(CONFIG_GRID),
                "folds": {f.held_out: {"config": f.config.label(), "train": f.train.as_dict(),
                                       "test": f.test.as_dict()} for f in folds},
                "average": loo.as_dict(),
            },
        }  # fmt: skip
    if args.ablation and LOGHUB.is_dir():
        ablation = rule_ablation([LOGHUB])
        print("\nmasking rule left out → GA/PA change per dataset (≥ 0.0005):")
        for name, changes in ablation.items():
            shown = "; ".join(f"{ds} {ga:+.3f}/{pa:+.3f}" for ds, (ga, pa) in changes.items()) or "-"
            print(f"  {name:<14} {shown}")
        result["rule_ablation"] = ablation
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

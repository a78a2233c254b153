"""Sentence templates: a `Cause` → one Chinese sentence (and an English one) with speakable names only."""

from __future__ import annotations

from agents.tracer.model import Cause, CauseKind

_WHY_ZH = {
    "notready": "失联（NotReady）", "disk": "磁盘空间不足", "memory": "内存不足", "pressure": "资源紧张",
    "oom": "内存溢出反复重启", "crash": "反复重启", "deleted": "它的 Pod 被人删除", "probe": "健康检查失败",
}  # fmt: skip

TEMPLATES_ZH: dict[CauseKind, str] = {
    CauseKind.BAD_IMAGE: "{who}把 {w} 的镜像改成了 {tag}，这个镜像拉取失败，新 Pod 起不来。",
    CauseKind.IMAGE_PULL: "{w} 拉取镜像 {tag} 失败，没有找到对应的变更记录。",
    CauseKind.CRASH_AFTER_CHANGE: "{who}把 {w} 的镜像改成了 {tag}，新版本启动后反复崩溃。",
    CauseKind.CONFIG_CHANGE: "{who}修改了配置 {obj}，{w} 读到错误配置后报错重启。",
    CauseKind.SECRET_CHANGE: "{who}修改了 Secret {obj}，之后 {w} 认证失败。",
    CauseKind.RBAC_CHANGE: "{who}{verb}{kind_zh} {obj}，{sa}失去权限，{w} 的请求被拒绝。",
    CauseKind.QUOTA_EXCEEDED: "{who}配额 {obj} 已用完，{w} 的新 Pod 创建不出来。",
    CauseKind.MISSING_STORAGE_CLASS: "存储类 {sc} 不存在，{w} 的存储卷无法创建，Pod 一直挂起。",
    CauseKind.NODE_PRESSURE: "{w} 所在的节点 {node} {why_zh}，Pod 被驱逐或失联。",
    CauseKind.DISK_FULL: "节点 {node} 磁盘空间不足，{w} 写盘失败。",
    CauseKind.DNS_FAILURE: "集群 DNS coredns {why_zh}，{w} 解析域名超时。",
    CauseKind.CERT_EXPIRED: "{host}的证书已过期，{w} 调用它时 TLS 握手失败。",
    CauseKind.UPSTREAM_DOWN: "{w} 依赖的 {up} 连接被拒绝{why_part}。",
    CauseKind.OOM_KILL: "{w} 的容器内存超过上限，被 OOM 杀掉后反复重启。",
    CauseKind.RESOURCE_LIMITS: "{who}把 {w} 的内存上限改成了 {limit}，之后容器被 OOM 杀掉、反复重启。",
    CauseKind.PROBE_CHANGE: "{who}修改了 {w} 的健康检查配置，之后健康检查一直失败。",
    CauseKind.SCALED_DOWN: "{who}把 {w} 的{what}调到了 {n}，之后处理不过来开始报错。",
}

TEMPLATES_EN: dict[CauseKind, str] = {
    CauseKind.BAD_IMAGE: "{user} changed the image of {w} to {tag} at {when}; it cannot be pulled.",
    CauseKind.IMAGE_PULL: "Pods of {w} cannot pull image {tag}; no matching change was found.",
    CauseKind.CRASH_AFTER_CHANGE: "{user} rolled out image {tag} for {w} at {when}; the new version crashes.",
    CauseKind.CONFIG_CHANGE: "{user} changed ConfigMap {obj} at {when}; {w} fails on the new configuration.",
    CauseKind.SECRET_CHANGE: "{user} changed Secret {obj} at {when}; {w} then fails to authenticate.",
    CauseKind.RBAC_CHANGE: "{user} changed {obj} at {when}; the service account of {w} lost permissions.",
    CauseKind.QUOTA_EXCEEDED: "ResourceQuota {obj} is exhausted; pods of {w} cannot be created.",
    CauseKind.MISSING_STORAGE_CLASS: "StorageClass {sc} does not exist; volumes of {w} cannot be provisioned.",
    CauseKind.NODE_PRESSURE: "Node {node} of {w} is in trouble ({why}); its pods were evicted or lost.",
    CauseKind.DISK_FULL: "Node {node} is out of disk; {w} cannot write.",
    CauseKind.DNS_FAILURE: "Cluster DNS (coredns) is failing ({why}); {w} cannot resolve names.",
    CauseKind.CERT_EXPIRED: "The certificate of {host} expired; TLS calls from {w} fail.",
    CauseKind.UPSTREAM_DOWN: "{up}, a dependency of {w}, refuses connections ({why}).",
    CauseKind.OOM_KILL: "Containers of {w} exceed their memory limit and are OOM-killed.",
    CauseKind.RESOURCE_LIMITS: "{user} set the memory limit of {w} to {limit} at {when}; containers are OOM-killed.",
    CauseKind.PROBE_CHANGE: "{user} changed the probes of {w} at {when}; the probes now fail.",
    CauseKind.SCALED_DOWN: "{user} lowered {what} of {w} to {n} at {when}; it is saturated.",
}


class _Slots(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def sentence_zh(cause: Cause) -> str:
    s = _Slots(cause.slots)
    s["who"] = f"{s['actor']} 在 {s['when']} " if s.get("actor") else ""
    s["why_zh"] = _WHY_ZH.get(
        s.get("why", ""), "解析失败" if cause.kind is CauseKind.DNS_FAILURE else "出现问题"
    )
    s["why_part"] = f"，{_WHY_ZH[s['why']]}" if s.get("why") in _WHY_ZH else ""
    if cause.kind is CauseKind.QUOTA_EXCEEDED and s.get("actor"):
        s["who"] = f"{s['actor']} 在 {s['when']} 调低了配额，"
    if cause.kind is CauseKind.MISSING_STORAGE_CLASS and s.get("actor"):
        return f"{s['actor']} 在 {s['when']} 创建 {s['w']} 时用了存储类 {s['sc']}，这个存储类不存在，存储卷无法创建。"
    if cause.kind is CauseKind.CERT_EXPIRED and not s.get("host"):
        return f"{s['w']} 调用的服务证书已过期，TLS 握手失败。"
    return TEMPLATES_ZH.get(cause.kind, "{w} 出现异常。").format_map(s)


def sentence_en(cause: Cause) -> str:
    s = _Slots(cause.slots)
    s.setdefault("user", s.get("actor", "someone"))
    return TEMPLATES_EN.get(cause.kind, "{w} is failing.").format_map(s)


__all__ = ["TEMPLATES_EN", "TEMPLATES_ZH", "sentence_en", "sentence_zh"]

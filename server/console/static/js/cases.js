import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section, fmtTime } from "./dom.js";

const STATUSES = ["", "NEW", "ANALYZING", "PROPOSED", "WAIT_GATE", "EXECUTING", "VERIFYING", "PARKED", "CLOSED"];

export async function renderCases(ctx) {
  if (ctx.args[0]) return renderCase(ctx, ctx.args[0]);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = new URLSearchParams({ limit: "100" });
  for (const k of ["owner", "status"]) if (params.get(k)) q.set(k, params.get(k));
  const data = await api("GET", `/api/cases?${q}`);
  const owner = el("input", { id: "filter-owner", value: params.get("owner") || "", placeholder: t("common.owner") });
  const status = el("select", { id: "filter-status" }, STATUSES.map((s) => el("option", { value: s, selected: s === (params.get("status") || "") ? "selected" : null }, s || t("cases.all"))));
  const apply = el("button", { type: "button", onclick: () => {
    const p = new URLSearchParams(); if (owner.value) p.set("owner", owner.value); if (status.value) p.set("status", status.value);
    location.hash = `#cases?${p}`; } }, t("cases.filter"));
  const rows = data.cases.map((c) => [el("a", { href: `#cases/${c.id}`, class: "case-link" }, `#${c.id}`), c.title, c.severity, c.status, c.owner, fmtTime(c.created_at)]);
  return el("div", { class: "grid" }, el("div", { class: "toolbar" }, owner, status, apply),
    wide(section(t("nav.cases"), rows.length ? table(["#", t("common.title"), t("common.severity"), t("common.status"), t("common.owner"), ""], rows) : el("p", { class: "muted" }, t("cases.none")))));
}

function wide(node) { node.classList.add("wide"); return node; }

async function renderCase(ctx, id) {
  const d = await api("GET", `/api/console/cases/${encodeURIComponent(id)}`);
  const c = d.case;
  const reload = () => { ctx.toast("OK"); window.dispatchEvent(new HashChangeEvent("hashchange")); };
  const fail = (e) => ctx.toast(`${t("common.error")}: ${e.message}`, true);
  const reason = el("input", { id: "case-reason", placeholder: t("cases.reason") });
  const minutes = el("input", { id: "snooze-minutes", type: "number", min: "1", max: "1440", value: "30" });
  const transition = (event) => api("POST", `/api/cases/${c.id}/transitions`, { event, payload: { reason: reason.value } }, { "If-Match": `"${c.version}"` }).then(reload, fail);
  const acked = d.attention && d.attention.acked_by;
  const actions = el("div", { class: "toolbar" },
    el("button", { type: "button", id: "ack", disabled: acked || !d.notify_available ? "disabled" : null,
      onclick: () => api("POST", `/api/cases/${c.id}/acknowledge`).then(reload, fail) }, t("cases.ack")),
    minutes, el("button", { type: "button", id: "snooze", disabled: d.notify_available ? null : "disabled",
      onclick: () => api("POST", `/api/cases/${c.id}/snooze`, { minutes: Number(minutes.value) }).then(reload, fail) }, t("cases.snooze")),
    reason,
    el("button", { type: "button", id: "decline", disabled: c.status === "WAIT_GATE" ? null : "disabled", onclick: () => transition("deny") }, t("cases.decline")),
    el("button", { type: "button", id: "park", disabled: ["PARKED", "CLOSED"].includes(c.status) ? "disabled" : null, onclick: () => transition("park") }, t("cases.park")));
  const state = el("p", { id: "case-state" }, `${t("common.status")}: ${c.status} · v${c.version}`,
    acked ? el("strong", { class: "ok", id: "acked" }, ` · ${t("cases.acked")} (${d.attention.acked_by})`) : null,
    d.attention && d.attention.snoozed_until ? ` · ⏰ ${fmtTime(d.attention.snoozed_until)}` : null);
  const trace = d.timeline.filter((e) => e.detail && (e.detail.cause || e.detail.chain || e.detail.evidence));
  return el("div", { class: "grid" },
    section(`#${c.id} ${c.title}`, state, el("p", {}, `${c.severity} · ${c.owner} · ${c.resource || ""}`),
      c.reason ? el("p", {}, `${t("cases.reason")}: ${c.reason}`) : null, actions,
      el("p", { class: "notice", id: "approval-note" }, t("cases.approval")),
      d.notify_available ? null : el("p", { class: "muted" }, `${t("cases.ack")}: ${t("common.unavailable")}`)),
    section(t("cases.chain"), trace.length ? trace.map(traceView) : el("p", { class: "muted" }, t("common.nodata"))),
    section(t("cases.plan"), c.plan ? el("pre", { class: "evidence" }, JSON.stringify(c.plan, null, 2)) : el("p", { class: "muted" }, t("common.nodata"))),
    section(t("cases.timeline"), el("ol", { class: "timeline" }, d.timeline.map((e) => el("li", {}, el("time", {}, fmtTime(e.at)), ` ${e.actor} · ${e.event}${e.to_state ? " → " + e.to_state : ""} `, e.detail && e.detail.text ? e.detail.text : "")))),
    section(t("cases.deliveries"), d.deliveries.length ? table(["rung", "channel", t("common.status"), "", ""], d.deliveries.map((x) => [x.rung, x.channel, x.status, x.detail, fmtTime(x.at)])) : el("p", { class: "muted" }, t("common.nodata"))));
}

function traceView(e) {
  const d = e.detail;
  const steps = Array.isArray(d.chain) ? d.chain : [];
  return el("div", { class: "trace" },
    el("p", {}, el("strong", {}, d.root_cause || d.cause || ""), d.confidence !== undefined ? ` (${d.cause || ""}, ${d.confidence})` : ""),
    d.fix ? el("p", {}, `${t("today.fix")}: ${d.fix}`) : null,
    el("ol", { class: "chain" }, steps.map((s) => el("li", {}, `[${s.kind}] `, s.title, s.count ? ` ×${s.count}` : ""))),
    el("p", { class: "muted" }, `${e.actor} · ${fmtTime(e.at)}`));
}

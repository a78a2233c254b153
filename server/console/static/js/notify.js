import { t, isEnglish as isEn } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section, fmtTime } from "./dom.js";

export async function renderNotify(ctx) {
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const fail = (e) => ctx.toast(`${t("common.error")}: ${e.message}`, true);
  let silences = null, channels = null, err = null;
  try { silences = (await api("GET", "/api/silences")).silences; channels = (await api("GET", "/api/channels")).channels; } catch (e) { err = e; }
  if (err) return section(t("nav.notify"), el("p", { class: "muted" }, `${t("common.unavailable")}: ${err.message}`));
  const sOwner = el("input", { id: "silence-owner", placeholder: t("common.owner"), value: "default" });
  const matchers = el("input", { id: "silence-matchers", placeholder: "alertname=HighCPU" });
  const hours = el("input", { id: "silence-hours", type: "number", value: "2", min: "0.1" });
  const comment = el("input", { id: "silence-comment", placeholder: t("notify.comment") });
  const addSilence = el("button", { type: "button", id: "silence-add", onclick: () => {
    const m = matchers.value.split(",").filter((s) => s.includes("=")).map((s) => { const [name, ...v] = s.split("="); return { name: name.trim(), value: v.join("=").trim() }; });
    const now = new Date();
    api("POST", "/api/silences", { owner: sOwner.value, matchers: m, starts_at: now.toISOString(), ends_at: new Date(now.getTime() + Number(hours.value) * 3600e3).toISOString(), comment: comment.value })
      .then(reload, fail); } }, t("notify.add"));
  const chName = el("input", { id: "channel-name", placeholder: "ops-group" });
  const chKind = el("select", { id: "channel-kind" }, ["wecom", "feishu", "dingtalk", "webhook"].map((k) => el("option", { value: k }, k)));
  const chUrl = el("input", { id: "channel-url", placeholder: "https://…", type: "password", autocomplete: "off" });
  const chSecret = el("input", { id: "channel-secret", placeholder: "secret (feishu/dingtalk)", type: "password", autocomplete: "off" });
  const addChannel = el("button", { type: "button", id: "channel-add", onclick: () => api("PUT", `/api/channels/${encodeURIComponent(chName.value)}`, { kind: chKind.value, url: chUrl.value, secret: chSecret.value }).then(reload, fail) }, t("notify.add"));
  return el("div", { class: "grid" },
    section(t("notify.silences"), table(["#", "matchers", "", t("notify.comment"), ""], silences.map((s) => [s.id, `${s.owner || ""} ${JSON.stringify(s.matchers)}`, fmtTime(s.ends_at), s.comment || "",
      el("button", { type: "button", onclick: () => api("DELETE", `/api/silences/${s.id}`).then(reload, fail) }, t("common.delete"))])),
      el("div", { class: "form" }, sOwner, el("label", {}, t("notify.matchers")), matchers, el("label", {}, t("notify.hours")), hours, comment, addSilence)),
    section(t("notify.channels"), table([t("owners.name"), t("notify.kind"), "", ""], channels.map((c) => [c.name, c.kind, el("code", {}, c.url || ""),
      el("span", {}, el("button", { type: "button", onclick: () => api("POST", `/api/channels/${encodeURIComponent(c.name)}/test`).then(() => ctx.toast("OK"), fail) }, t("notify.test")),
        el("button", { type: "button", onclick: () => api("DELETE", `/api/channels/${encodeURIComponent(c.name)}`).then(reload, fail) }, t("common.delete")))])),
      el("div", { class: "form" }, chName, chKind, chUrl, chSecret, addChannel)),
    await schedulesSection(ctx, reload, fail));
}

const WEEKDAYS = [["一", "Mon"], ["二", "Tue"], ["三", "Wed"], ["四", "Thu"], ["五", "Fri"], ["六", "Sat"], ["日", "Sun"]];

async function schedulesSection(ctx, reload, fail) {
  let list;
  try { list = (await api("GET", "/api/console/schedules")).schedules; } catch (e) {
    return section(t("notify.schedules"), el("p", { class: "muted", id: "no-schedules" }, t("notify.noschedules")));
  }
  const owner = el("input", { id: "schedule-owner", value: "default", placeholder: t("common.owner") });
  const kind = el("select", { id: "schedule-kind" }, el("option", { value: "broadcast" }, t("notify.broadcast")), el("option", { value: "alert_review" }, t("notify.review")));
  const time = el("input", { id: "schedule-time", type: "time", value: "09:00" });
  const days = WEEKDAYS.map((d, i) => el("label", { class: "day" }, el("input", { type: "checkbox", value: i, checked: i < 5 ? "checked" : null }), isEn() ? d[1] : d[0]));
  const add = el("button", { type: "button", id: "schedule-add", onclick: () => {
    const [hour, minute] = time.value.split(":").map(Number);
    const weekdays = days.map((l) => l.firstChild).filter((c) => c.checked).map((c) => Number(c.value));
    api("POST", "/api/console/schedules", { owner: owner.value, kind: kind.value, hour, minute, weekdays }).then(reload, fail); } }, t("notify.add"));
  return section(t("notify.schedules"),
    list.length ? table(["#", t("common.owner"), "", ""], list.map((x) => [x.id, x.owner, x.describe_zh,
      el("button", { type: "button", onclick: () => api("DELETE", `/api/console/schedules/${x.id}`).then(reload, fail) }, t("common.delete"))]))
      : el("p", { class: "muted", id: "schedules-empty" }, t("common.nodata")),
    el("div", { class: "form" }, owner, kind, time, ...days, add));
}

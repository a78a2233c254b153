import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section, fmtTime } from "./dom.js";

let chart = null;

export async function renderToday({ args }) {
  const meta = await api("GET", "/api/console/days");
  const owner = decodeURIComponent(args[0] || meta.owners[0] || "default");
  const days = meta.days[owner] || [];
  const day = args[1] || days[0] || "";
  const q = new URLSearchParams({ owner }); if (day) q.set("day", day);
  const rep = await api("GET", `/api/console/report?${q}`);
  const ownerSel = el("select", { id: "today-owner", onchange: (e) => { location.hash = `#today/${encodeURIComponent(e.target.value)}`; } },
    meta.owners.map((o) => el("option", { value: o, selected: o === owner ? "selected" : null }, o)));
  const daySel = el("select", { id: "today-day", onchange: (e) => { location.hash = `#today/${encodeURIComponent(owner)}/${e.target.value}`; } },
    days.map((d) => el("option", { value: d, selected: d === rep.day ? "selected" : null }, d)));
  const head = el("div", { class: "toolbar" }, el("label", {}, t("common.owner"), " ", ownerSel), el("label", {}, t("common.day"), " ", daySel));
  const root = el("div", { class: "grid" }, head);
  if (rep.no_data) { root.append(section(t("today.summary"), el("p", { class: "muted", id: "no-data" }, t("common.nodata")))); return root; }
  const play = rep.audio
    ? el("audio", { controls: "controls", src: rep.audio })
    : el("p", { class: "muted", id: "no-audio" }, `${t("today.play")}: ${t("common.unavailable")} — ${rep.audio_reason || ""}`);
  root.append(section(t("today.summary"), rep.no_logs ? el("p", { class: "error" }, t("today.nologs")) : null,
    el("p", { class: "summary", id: "summary" }, rep.summary || t("common.nodata")), play,
    el("p", { class: "muted" }, `analyst: ${rep.analyst || "?"}`)));
  const kinds = Object.entries(rep.findings_by_kind);
  root.append(section(t("today.kinds"), kinds.length ? table([t("today.kinds"), "critical", "high", "medium", "low", "info"],
    kinds.map(([k, sev]) => [k, ...["critical", "high", "medium", "low", "info"].map((s) => sev[s] || 0)])) : el("p", { class: "muted" }, t("common.nodata"))));
  const canvas = el("canvas", { id: "errors-chart", height: "220" });
  root.append(section(t("today.errors"), el("div", { class: "chart" }, canvas)));
  root.append(section(t("today.incidents"), rep.incidents.length ? rep.incidents.map(incident) : el("p", { class: "muted" }, t("common.nodata"))));
  root.append(section(t("today.top"), table(["#", "template", "level", "workload"], rep.top_templates.map((x) => [x.count, el("code", {}, x.template), x.level, x.workload]))));
  root.append(section(t("today.new"), rep.new_templates.length ? table(["#", "template", "workload"], rep.new_templates.map((x) => [x.count, el("code", {}, x.template), x.workload])) : el("p", { class: "muted" }, t("common.nodata"))));
  root.append(section(t("today.audit"), el("ol", { class: "timeline" }, rep.audit_changes.map((e) => el("li", {}, el("time", {}, fmtTime(e.ts)), " ", e.what)))));
  requestAnimationFrame(() => drawChart(canvas, rep.errors_by_hour));  // once the page holds the canvas
  return root;
}

function incident(i) {
  return el("article", { class: `incident sev-${i.severity}` },
    el("h3", {}, `#${i.rank} ${i.namespace}/${i.workload} · ${i.severity} · ${i.impact}`),
    el("p", {}, i.cause_zh || i.cause), i.fix_zh ? el("p", {}, `${t("today.fix")}: ${i.fix_zh}`) : null,
    el("ol", { class: "chain" }, i.chain.map((c) => el("li", {}, el("time", {}, fmtTime(c.ts)), ` [${c.kind}] `, c.summary_zh || c.title))),
    i.evidence.length ? el("details", {}, el("summary", {}, t("today.evidence")), el("pre", { class: "evidence" }, i.evidence.join("\n"))) : null);
}

function drawChart(canvas, series) {
  if (!window.Chart || !canvas.isConnected) return;
  if (chart) chart.destroy();
  const palette = ["#d9534f", "#f0ad4e", "#5bc0de", "#5cb85c", "#6f42c1", "#20c997", "#fd7e14", "#6c757d"];
  const entries = Object.entries(series).slice(0, 8);
  chart = new window.Chart(canvas, {
    type: "bar",
    data: { labels: [...Array(24).keys()].map((h) => `${h}:00`),
      datasets: entries.map(([w, v], i) => ({ label: w, data: v, backgroundColor: palette[i % palette.length] })) },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });
}

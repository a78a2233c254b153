import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section } from "./dom.js";

export async function renderSystem() {
  const s = await api("GET", "/api/console/system");
  const kv = (o) => table(["", ""], Object.entries(o).map(([k, v]) => [k, v === null ? "—" : String(v)]));
  const stages = [...new Set(s.runs.flatMap((r) => Object.keys(r.stage_seconds)))];
  return el("div", { class: "grid" },
    section(t("system.health"), el("p", { class: "ok", id: "health" }, s.health), el("p", { class: "muted" }, `cron: ${s.pipeline_cron}`)),
    section(t("system.versions"), kv(s.versions)),
    section(t("system.fallbacks"), kv(s.fallbacks)),
    section(t("system.metrics"), kv(s.metrics)),
    section(t("system.runs"), s.runs.length ? table([t("common.day"), t("common.owner"), ...stages, "findings"], s.runs.map((r) => [r.day, r.owner, ...stages.map((k) => (r.stage_seconds[k] ?? "").toString()), r.no_logs ? t("common.nodata") : r.findings]))
      : el("p", { class: "muted" }, t("common.nodata"))));
}

import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section, fmtTime } from "./dom.js";

export async function renderDevices(ctx) {
  const data = await api("GET", "/api/console/devices");
  const fail = (e) => ctx.toast(`${t("common.error")}: ${e.message}`, true);
  const rows = data.devices.map((d) => {
    const text = el("input", { value: "测试播报", class: "announce-text" });
    return [d.device_id, d.online ? el("span", { class: "ok" }, t("devices.online")) : el("span", { class: "muted" }, t("devices.offline")),
      d.transport, d.firmware, d.online ? t("devices.online") : fmtTime(d.last_seen), d.owner,
      d.online ? el("span", {}, text, el("button", { type: "button", onclick: () => api("POST", `/api/console/devices/${encodeURIComponent(d.device_id)}/announce`, { text: text.value }).then(() => ctx.toast("OK"), fail) }, t("devices.announce"))) : ""];
  });
  return section(t("nav.devices"), rows.length ? table(["ID", t("common.status"), t("devices.transport"), t("devices.firmware"), t("devices.lastseen"), t("common.owner"), ""], rows)
    : el("p", { class: "muted", id: "no-devices" }, t("devices.none")));
}

import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section, fmtTime } from "./dom.js";

export async function renderDevices(ctx) {
  const data = await api("GET", "/api/console/devices");
  const fail = (e) => ctx.toast(`${t("common.error")}: ${e.message}`, true);
  const out = el("pre", { class: "evidence", id: "device-status" });
  const rows = data.devices.map((d) => {
    const id = encodeURIComponent(d.device_id);
    const text = el("input", { value: "测试播报", class: "announce-text" });
    const volume = el("input", { type: "number", min: "0", max: "100", value: "50", class: "volume" });
    const controls = d.online ? el("div", { class: "toolbar" },
      el("button", { type: "button", class: "status-btn", disabled: d.mcp ? null : "disabled",
        onclick: () => api("GET", `/api/console/devices/${id}/status`).then((r) => { out.textContent = JSON.stringify(r.status, null, 2); }, fail) }, t("devices.status")),
      volume, el("button", { type: "button", class: "volume-btn", disabled: d.mcp ? null : "disabled",
        onclick: () => api("POST", `/api/console/devices/${id}/volume`, { volume: Number(volume.value) }).then(() => ctx.toast("OK"), fail) }, t("devices.volume")),
      text, el("button", { type: "button", class: "announce-btn",
        onclick: () => api("POST", `/api/console/devices/${id}/announce`, { text: text.value }).then(() => ctx.toast("OK"), fail) }, t("devices.announce"))) : "";
    return [d.device_id, d.online ? el("span", { class: "ok" }, t("devices.online")) : el("span", { class: "muted" }, t("devices.offline")),
      d.transport, [d.board, d.firmware].filter(Boolean).join(" "), fmtTime(d.last_seen), d.owner || "—", controls];
  });
  const card = section(t("nav.devices"), rows.length
    ? table(["ID", t("common.status"), t("devices.transport"), t("devices.firmware"), t("devices.lastseen"), t("common.owner"), ""], rows)
    : el("p", { class: "muted", id: "no-devices" }, t("devices.none")), out);
  card.classList.add("wide");
  return el("div", { class: "grid" }, card);
}

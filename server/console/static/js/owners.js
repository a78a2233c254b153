import { t } from "./i18n.js";
import { api } from "./api.js";
import { el, table, section } from "./dom.js";
import { recordWav } from "./wav.js";

export async function renderOwners(ctx) {
  const data = await api("GET", "/api/owners");
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const fail = (e) => ctx.toast(`${t("common.error")}: ${e.message}`, true);
  const name = el("input", { id: "owner-name", placeholder: t("owners.name") });
  const add = el("button", { type: "button", id: "owner-add", onclick: () => api("POST", "/api/owners", { name: name.value }).then(reload, fail) }, t("owners.add"));
  const rows = data.owners.map((o) => [o.name, o.enrolled ? `${t("owners.enrolled")} (${o.n_samples})` : t("owners.notenrolled"),
    o.credentials ? el("code", { class: "masked" }, `${o.credentials.secret_id || ""} · ${o.credentials.region || ""} ${o.credentials.bucket || ""}`) : "—",
    el("a", { href: `#owners/${o.id}`, class: "owner-link" }, "⚙")]);
  const root = el("div", { class: "grid" }, section(t("nav.owners"), el("div", { class: "toolbar" }, name, add),
    table([t("owners.name"), t("owners.voice"), t("owners.keys"), ""], rows)));
  const chosen = data.owners.find((o) => String(o.id) === ctx.args[0]);
  if (chosen) root.append(keysForm(chosen, ctx, reload, fail), voiceForm(chosen, ctx, reload, fail));
  return root;
}

function keysForm(o, ctx, reload, fail) {
  const f = (id, ph, type = "text") => el("input", { id, placeholder: ph, type, autocomplete: "off" });
  const sid = f("secret-id", "SecretId", "password"), skey = f("secret-key", "SecretKey", "password");
  const region = f("region", "ap-guangzhou"), bucket = f("bucket", "logs-1250000000");
  const save = el("button", { type: "button", id: "keys-save", onclick: () => api("PUT", `/api/owners/${o.id}/credentials`,
    { secret_id: sid.value, secret_key: skey.value, region: region.value, bucket: bucket.value }).then(() => { ctx.toast("OK"); reload(); }, fail) }, t("owners.bind"));
  const day = el("input", { id: "probe-day", type: "date", value: new Date(Date.now() - 864e5).toISOString().slice(0, 10) });
  const probeOut = el("div", { id: "probe-result" });
  const probe = el("button", { type: "button", id: "probe", onclick: () => api("GET", `/api/console/owners/${o.id}/probe?day=${day.value}`).then((r) => {
    probeOut.replaceChildren(el("p", { class: r.reachable ? "ok" : "error" }, r.reachable ? t("owners.reachable") : t("owners.unreachable")),
      table([t("notify.kind"), "#", "bytes", ""], r.kinds.map((k) => [k.kind, k.objects, k.bytes, k.error ? el("span", { class: "error" }, k.error) : el("code", {}, k.sample.join("\n"))])));
  }, fail) }, t("owners.probe"));
  return section(`${o.name} · ${t("owners.keys")}`, el("p", { class: "muted" }, t("owners.masked")),
    o.credentials ? el("p", {}, el("code", { class: "masked" }, JSON.stringify(o.credentials))) : null,
    el("div", { class: "form" }, sid, skey, region, bucket, save),
    el("div", { class: "form" }, day, probe), probeOut);
}

function voiceForm(o, ctx, reload, fail) {
  const clips = [];
  const list = el("ul", { id: "clips" });
  const result = el("div", { id: "quality" });
  const files = el("input", { type: "file", id: "wav-files", accept: ".wav,audio/wav", multiple: "multiple", onchange: (e) => {
    for (const file of e.target.files) clips.push({ name: file.name, blob: file }); show(); } });
  const show = () => list.replaceChildren(...clips.map((c) => el("li", {}, c.name)));
  const form = () => { const fd = new FormData(); clips.forEach((c, i) => fd.append(`clip${i}`, c.blob, c.name)); return fd; };
  const seconds = el("select", { id: "record-seconds" }, [4, 3, 6].map((n) => el("option", { value: n }, `${n} s`)));
  const rec = el("button", { type: "button", id: "record", onclick: async () => {
    rec.disabled = true;
    try { const blob = await recordWav(Number(seconds.value)); clips.push({ name: `mic-${clips.length + 1}.wav`, blob }); show(); } catch (e) { fail(e); }
    rec.disabled = false; } }, t("owners.record"));
  const save = el("button", { type: "button", id: "enrol", disabled: "disabled", onclick: () =>
    api("POST", `/api/owners/${o.id}/voiceprint`, form()).then(() => { ctx.toast("OK"); reload(); }, fail) }, t("owners.enrol"));
  const check = el("button", { type: "button", id: "check", onclick: async () => {
    try {
      const q = await api("POST", "/api/console/voiceprint/check", form());
      result.replaceChildren(table(["clip", "s", "dBFS", "!"], q.clips.map((c) => [c.name, c.speech_s, c.dbfs, c.problems.join("; ") || "✓"])),
        el("p", {}, q.pairs.map((p) => `${p.a + 1}↔${p.b + 1}: ${p.similarity}${p.ok ? "" : " ✗"}`).join("  ")),
        el("p", { class: q.ok ? "ok" : "error", id: "quality-verdict" }, q.ok ? "✓" : `✗ (≥${q.min_clips})`));
      save.disabled = !q.ok;
    } catch (e) { fail(e); } } }, t("owners.check"));
  const del = el("button", { type: "button", id: "voice-delete", onclick: () => api("DELETE", `/api/console/owners/${o.id}/voiceprint`).then(reload, fail) }, t("owners.delvoice"));
  return section(`${o.name} · ${t("owners.voice")}`, el("label", {}, t("owners.upload"), " ", files), el("div", { class: "toolbar" }, seconds, rec), list, check, result, save, o.enrolled ? del : null);
}

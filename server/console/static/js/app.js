import { applyI18n, t, toggleLanguage } from "./i18n.js";
import { api, whoami } from "./api.js";
import { el } from "./dom.js";
import { renderToday } from "./today.js";
import { renderCases } from "./cases.js";
import { renderOwners } from "./owners.js";
import { renderDevices } from "./devices.js";
import { renderNotify } from "./notify.js";
import { renderSystem } from "./system.js";

const PAGES = { today: renderToday, cases: renderCases, owners: renderOwners, devices: renderDevices, notify: renderNotify, system: renderSystem };
let me = null;

export function toast(message, bad = false) {
  const node = document.getElementById("toast");
  node.textContent = message; node.className = bad ? "toast bad show" : "toast show";
  setTimeout(() => { node.className = "toast"; }, 3500);
}

let routing = 0;  // a slow earlier page must not overwrite a later one

async function route() {
  const mine = ++routing;
  const [name, ...rest] = (location.hash.replace(/^#/, "").split("?")[0] || "today").split("/");
  const render = PAGES[name] || renderToday;
  const page = document.getElementById("page");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === `#${name}`);
  page.replaceChildren(el("p", { class: "muted" }, "…"));
  try {
    const content = await render({ me, args: rest, toast });
    if (mine !== routing) return;
    page.replaceChildren(content);
    page.dataset.page = name;
  } catch (e) {
    if (mine !== routing) return;
    page.replaceChildren(el("p", { class: "error" }, `${t("common.error")}: ${e.message}`));
  }
}

async function main() {
  applyI18n();
  me = await whoami();
  document.getElementById("lang-switch").addEventListener("click", () => { toggleLanguage(); applyI18n(); route(); });
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("POST", "/console/logout"); } finally { location.href = "/console/login"; }
  });
  window.addEventListener("hashchange", route);
  await route();
}
main();

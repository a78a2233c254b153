import { applyI18n, t, toggleLanguage } from "./i18n.js";
applyI18n();
document.getElementById("lang-switch").addEventListener("click", () => { toggleLanguage(); applyI18n(); });
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = document.getElementById("login-error");
  out.textContent = "";
  const r = await fetch("/console/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: document.getElementById("token").value }) });
  if (r.ok) { location.href = "/console/#today"; return; }
  out.textContent = r.status === 429 ? t("login.slow") : t("login.wrong");
});

import "./app.css";
// The app shell: who is signed in, the navigation, and the page the path names. Each page's
// state is its URL, so a link reproduces the view.
import { ApiError, post, whoAmI } from "./api.js";
import { h, notice, pageUrl } from "./dom.js";
import { AUDITORS, renderAudit } from "./pages/audit.js";
import { renderCorrections } from "./pages/corrections.js";
import { renderDhr } from "./pages/dhr.js";
import { renderFind } from "./pages/find.js";
import { renderImpact } from "./pages/impact.js";
import { renderKpi } from "./pages/kpi.js";
import { renderLogin } from "./pages/login.js";
import { renderRecall, renderRecalls } from "./pages/recall.js";
import { renderTrace } from "./pages/trace.js";

const PAGES = {
  "/": ["Find", renderFind],
  "/find": ["Find", renderFind],
  "/trace": ["Trace", renderTrace],
  "/impact": ["Impact", renderImpact],
  "/dhr": ["Device history record", renderDhr],
  "/recall": ["Recall cases", renderRecalls],
  "/corrections": ["Corrections", renderCorrections],
  "/kpi": ["Quality dashboard", renderKpi],
  "/audit": ["Audit trail", renderAudit],
};

/** The page a path names: a fixed path, or /recall/ID. */
function route(path) {
  const recall = /^\/recall\/(\d{1,9})$/.exec(path);
  if (recall) {
    return [`Recall case ${recall[1]}`, (main, params, identity) => renderRecall(main, recall[1], identity)];
  }
  return PAGES[path] || ["Not found", null];
}

function header(identity) {
  const links = [["/find", "Find"], ["/trace", "Trace"], ["/impact", "Impact"], ["/dhr", "DHR"],
    ["/recall", "Recalls"], ["/kpi", "Dashboard"], ["/corrections", "Corrections"]];
  if (identity.no_auth || AUDITORS.has(identity.role)) links.push(["/audit", "Audit"]);
  const here = location.pathname === "/" ? "/find" : location.pathname.replace(/^\/recall\/.*/, "/recall");
  return h("header", { class: "top" },
    h("a", { class: "brand", href: "/find" }, "tracegraph"),
    h("nav", { "aria-label": "pages" }, links.map(([path, text]) => h("a", {
      href: path, "aria-current": here === path ? "page" : null }, text))),
    h("div", { class: "who" },
      identity.no_auth ? h("span", { class: "warn" }, "no sign-in (local administrator)")
        : [h("span", { "data-testid": "who" }, `${identity.full_name || identity.user} · ${identity.role}`),
          h("button", { type: "button", onclick: signOut }, "Sign out")]),
  );
}

async function signOut() {
  try {
    await post("logout");
  } finally {
    location.assign("/login");
  }
}

/** Sends the person to sign in, and back here afterwards. */
export function toLogin(reason) {
  const next = location.pathname + location.search;
  location.assign(pageUrl("/login", { next: next === "/login" ? "" : next, reason }));
}

async function start() {
  const root = document.getElementById("app");
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/login") {
    root.replaceChildren(h("main", { id: "main" }));
    renderLogin(root.querySelector("main"), params);
    return;
  }
  let identity;
  try {
    identity = await whoAmI();
  } catch (e) {
    root.replaceChildren(h("main", { id: "main", "data-ready": "true" }, notice(e.message)));
    return;
  }
  if (identity === null) {
    toLogin("");
    return;
  }
  const [title, render] = route(location.pathname);
  document.title = `${title} · tracegraph`;
  const main = h("main", { id: "main" });
  root.replaceChildren(header(identity), main);
  if (!render) {
    main.append(notice(`no page at ${location.pathname}`));
    main.setAttribute("data-ready", "true");
    return;
  }
  try {
    await render(main, params, identity);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      toLogin("Your session has ended: sign in again.");
      return;
    }
    main.append(notice(e.message));
  } finally {
    main.setAttribute("data-ready", "true");
  }
}

start();

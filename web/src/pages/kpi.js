import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { get, post } from "../api.js";
import { h, notice, number, pageUrl } from "../dom.js";
import { dataTable } from "../table.js";

const CHARTS = [
  ["first_pass_yield", "First-pass yield (%)", (v) => v * 100],
  ["ncs_opened", "Nonconformances opened", (v) => v],
  ["open_ncs", "Open nonconformances (end of period)", (v) => v],
  ["open_nc_age_days", "Mean age of open NCs (days)", (v) => v],
  ["open_capas", "Open CAPAs (end of period)", (v) => v],
  ["recall_hours", "Recall: hours to a notification-ready list", (v) => v],
];

function value(row, key, scale) {
  const v = row[key];
  return v === undefined || v === null || v === "" ? null : scale(Number(v));
}

const ACKNOWLEDGERS = new Set(["investigator", "qa"]);

/** The active alerts, each with its acknowledgement (investigator, qa). */
async function alertList(identity) {
  const { items } = await get("alerts", { state: "active" });
  const box = h("section", { "aria-labelledby": "alerts-title", "data-testid": "alerts" },
    h("h2", { id: "alerts-title" }, `Alerts (${items.length} active)`));
  if (!items.length) {
    box.append(h("p", {}, "No alert: every rule is within its threshold."));
    return box;
  }
  const mayAck = identity.no_auth || ACKNOWLEDGERS.has(identity.role);
  box.append(h("ul", { class: "alerts" }, items.map((a) => {
    const reason = h("input", { id: `ack-${a.id}`, name: "reason", size: 36, required: true });
    const message = h("span", { "aria-live": "polite" });
    return h("li", { class: `alert ${a.state}`, "data-testid": `alert-${a.id}` },
      h("strong", {}, a.state === "open" ? "OPEN" : "ACKNOWLEDGED"), ` #${a.id} ${a.title}: `,
      `${a.group === "all" ? "" : `${a.group}: `}${a.value} (threshold ${a.threshold}, since ${a.raised_at.slice(0, 16)})`,
      a.state === "acknowledged" ? ` — acknowledged by ${a.acknowledged_by}: “${a.ack_reason}”` : null,
      a.state === "open" && mayAck ? h("form", { class: "controls", onsubmit: async (event) => {
        event.preventDefault();
        try {
          await post("alert_ack", { id: String(a.id), reason: reason.value });
          location.reload();
        } catch (e) {
          message.replaceChildren(notice(e.message));
        }
      } }, h("label", { for: `ack-${a.id}` }, "What is being done"), reason,
      h("button", { type: "submit" }, "Acknowledge"), message) : null);
  })));
  return box;
}

/** /kpi?period=day|week|month: alerts, then quality KPIs over time, a chart each and the table. */
export async function renderKpi(main, params, identity) {
  const period = ["day", "week", "month"].includes(params.get("period")) ? params.get("period") : "month";
  main.replaceChildren(h("h1", {}, "Quality dashboard"),
    h("nav", { class: "controls", "aria-label": "period" }, "Per ",
      ["day", "week", "month"].map((p, i) => [i ? " · " : "", p === period
        ? h("strong", { "aria-current": "true" }, p)
        : h("a", { href: pageUrl("/kpi", { period: p }) }, p)])));
  main.append(await alertList(identity));
  const { rows } = await get("kpi", { period });
  if (!rows.length) {
    main.append(notice("no quality records or recall cases yet", "info"));
    return;
  }
  const times = rows.map((r) => Date.parse(r.period) / 1000);
  const grid = h("div", { class: "charts" });
  main.append(grid);
  for (const [key, title, scale] of CHARTS) {
    const box = h("figure", { class: "chart", "data-testid": `chart-${key}` });
    grid.append(box);
    // Points as well as the line: a single period still shows, and no colour is needed.
    new uPlot({ title, width: 420, height: 200, legend: { show: false },
      scales: { x: { time: true } },
      series: [{}, { label: title, stroke: "#1f5fa8", width: 2, points: { show: true, size: 6 } }],
    }, [times, rows.map((r) => value(r, key, scale))], box);
  }
  main.append(dataTable([
    { key: "period", label: "Period (UTC)", render: (r) => r.period.slice(0, 10) },
    { key: "first_pass_yield", label: "First-pass yield", numeric: true,
      render: (r) => (r.first_pass_yield === undefined || r.first_pass_yield === null ? "—" : `${(r.first_pass_yield * 100).toFixed(2)} %`) },
    { key: "inspections", label: "Inspections", numeric: true },
    { key: "ncs_opened", label: "NCs opened", numeric: true },
    { key: "open_ncs", label: "Open NCs", numeric: true },
    { key: "open_nc_age_days", label: "Open NC age (days)", numeric: true,
      render: (r) => (r.open_nc_age_days == null ? "—" : number(Number(r.open_nc_age_days).toFixed(1))) },
    { key: "open_capas", label: "Open CAPAs", numeric: true },
    { key: "recalls_opened", label: "Recalls opened", numeric: true },
    { key: "recall_hours", label: "Recall hours", numeric: true,
      render: (r) => (r.recall_hours == null ? "—" : Number(r.recall_hours).toFixed(2)) },
  ], [...rows].reverse(), { caption: `per ${period}, newest first`, testid: "kpi" }));
}

import { get } from "../api.js";
import { h, jsonOf, notice, number, pageUrl } from "../dom.js";
import { dataTable } from "../table.js";

export const AUDITORS = new Set(["qa", "admin"]);

function brief(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

/** /audit?user=&key=&action=&since=&until=: the audit trail, filtered; verify the chain. */
export async function renderAudit(main, params) {
  const fields = ["user", "key", "action", "since", "until"];
  const boxes = Object.fromEntries(fields.map((name) => [name, h("input", { id: `audit-${name}`, name,
    value: params.get(name) || "", size: name === "key" ? 36 : 14,
    placeholder: name === "since" || name === "until" ? "2026-11-01" : "" })]));
  const verdict = h("div", { "aria-live": "polite", "data-testid": "verify" });
  main.replaceChildren(h("h1", {}, "Audit trail"),
    h("form", { class: "controls", onsubmit: (event) => {
      event.preventDefault();
      location.assign(pageUrl("/audit", Object.fromEntries(fields.map((n) => [n, boxes[n].value.trim()]))));
    } }, fields.map((name) => [h("label", { for: `audit-${name}` }, name), boxes[name]]),
    h("button", { type: "submit" }, "Show")),
    h("p", {}, h("button", { type: "button", onclick: async () => {
      verdict.replaceChildren(h("p", {}, "Verifying the hash chain…"));
      try {
        const v = await get("audit_verify");
        verdict.replaceChildren(v.intact
          ? notice(`intact: ${number(v.records)} records, Merkle root ${v.root}`, "info")
          : notice(`NOT intact (first bad record ${v.first_bad}): ${v.problems.join("; ")}`));
      } catch (e) {
        verdict.replaceChildren(notice(e.message));
      }
    } }, "Verify the whole trail")), verdict);
  const query = Object.fromEntries(fields.map((n) => [n, params.get(n) || ""]).filter(([, v]) => v));
  const { items, truncated } = await get("audit", query);
  const rows = items.map((r) => {
    const record = jsonOf(r.json);
    return { seq: r.seq, time: record.time, user: record.user, action: record.action,
      keys: (record.keys || []).join(", "), reason: record.reason || "",
      change: [brief(record.old), brief(record.new)].filter(Boolean).join(" → ") || brief(record.details) };
  }).reverse();
  if (truncated) main.append(notice(`only the first ${number(items.length)} matching records are shown: narrow the filters (since, user, key, action)`, "info"));
  main.append(dataTable([
    { key: "seq", label: "#", numeric: true },
    { key: "time", label: "Time (UTC)" },
    { key: "user", label: "Who" },
    { key: "action", label: "Action" },
    { key: "keys", label: "Objects" },
    { key: "reason", label: "Reason" },
    { key: "change", label: "Change / details" },
  ], rows, { caption: `${number(rows.length)} record(s), newest first`, testid: "audit" }));
}

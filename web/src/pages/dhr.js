import { get } from "../api.js";
import { h, jsonOf, notice, number, pageLink, pageUrl } from "../dom.js";
import { dataTable } from "../table.js";

function fields(record) {
  return Object.entries(jsonOf(record.fields_json))
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
}

const RECORD_COLUMNS = [
  { key: "record_id", label: "Record" },
  { key: "record_type", label: "Type" },
  { key: "status", label: "Status" },
  { key: "title", label: "Title" },
  { key: "recorded_at", label: "Recorded" },
  { key: "details", label: "Details", render: fields },
];

/** /dhr?key=K: the unit's identity, its own records, every record upstream with its path. */
export async function renderDhr(main, params) {
  const key = (params.get("key") || "").trim();
  const box = h("input", { id: "key", name: "key", value: key, size: 60, required: true });
  main.replaceChildren(h("h1", {}, "Device history record"), h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    location.assign(pageUrl("/dhr", { key: box.value.trim() }));
  } }, h("label", { for: "key" }, "Unit (key or scanned barcode)"), box, h("button", { type: "submit" }, "Show")));
  if (!key) {
    main.append(notice("give a unit's key or scan its barcode", "info"));
    return;
  }
  const dhr = await get("dhr", { key });
  const identity = Object.entries(dhr.identity).sort();
  main.append(
    h("section", { "aria-labelledby": "identity" }, h("h2", { id: "identity" }, "Identity"),
      h("dl", { class: "identity", "data-testid": "identity" }, identity.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
        h("dt", {}, "built at"), h("dd", {}, dhr.built_at || "unknown"),
        h("dt", {}, "upstream nodes"), h("dd", {}, number(dhr.upstream_nodes))),
      h("p", { class: "actions" }, pageLink("/trace", { key: dhr.identity.key || key, direction: "upstream" }, "where-from graph"))),
    h("section", {}, h("h2", {}, `Its own records (${dhr.own.length})`),
      dhr.own.length ? dataTable(RECORD_COLUMNS, dhr.own, { testid: "own" }) : h("p", {}, "none")),
    h("section", {}, h("h2", {}, `Records upstream (${dhr.upstream.length})`),
      dhr.upstream.length ? dataTable([
        { key: "node", label: "On", render: (r) => pageLink("/trace", { key: r.node }, r.node) },
        { key: "kind", label: "Kind" },
        { key: "depth", label: "Depth", numeric: true },
        { key: "record_id", label: "Record", render: (r) => r.record.record_id },
        { key: "type", label: "Type", render: (r) => r.record.record_type },
        { key: "status", label: "Status", render: (r) => r.record.status },
        { key: "title", label: "Title", render: (r) => r.record.title },
        { key: "path", label: "Path from the unit", render: (r) => r.path.join(" → ") },
      ], dhr.upstream, { testid: "upstream" }) : h("p", {}, "none")),
    h("section", {}, h("h2", {}, `EPCIS events and sensor data (${dhr.events.length})`),
      dhr.events.length ? dataTable([
        { key: "time", label: "Time" },
        { key: "type", label: "Event" },
        { key: "nodes", label: "On", render: (e) => e.nodes.join(", ") },
        { key: "sensors", label: "Sensor readings", render: (e) => e.sensors.join("; ") || "—" },
        { key: "event_id", label: "Event id" },
      ], dhr.events, { testid: "events" }) : h("p", {}, "none kept")),
    h("section", {}, h("h2", {}, `Change orders in effect when built (${dhr.change_orders_in_effect.length})`),
      dhr.change_orders_in_effect.length ? dataTable(RECORD_COLUMNS, dhr.change_orders_in_effect, { testid: "change-orders" })
        : h("p", {}, "none")),
    dhr.change_orders_after.length ? h("section", {}, h("h2", {}, `Change orders after it was built (${dhr.change_orders_after.length})`),
      dataTable(RECORD_COLUMNS, dhr.change_orders_after, { testid: "change-orders-after" })) : null,
  );
}

import { get } from "../api.js";
import { h, notice, number, pageLink, pageUrl } from "../dom.js";
import { dataTable } from "../table.js";
import { mayAct, openCaseForm } from "./recall.js";

/** /impact?keys=K1,K2: what the seeds reached, by kind, customer and shipment. */
export async function renderImpact(main, params, identity) {
  const keys = (params.get("keys") || "").split(",").map((s) => s.trim()).filter(Boolean);
  const box = h("input", { id: "keys", name: "keys", value: keys.join(","), size: 60, required: true });
  main.replaceChildren(h("h1", {}, "Impact"), h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    location.assign(pageUrl("/impact", { keys: box.value.trim() }));
  } }, h("label", { for: "keys" }, "Keys (comma-separated)"), box, h("button", { type: "submit" }, "Impact")));
  if (!keys.length) {
    main.append(notice("give one or more keys: the suspect lots, units or parts", "info"));
    return;
  }
  const { summary } = await get("impact", { keys: keys.join(",") });
  main.append(
    h("p", { class: "summary", "data-testid": "impact-summary" },
      `${number(summary.seeds)} seed(s) reach ${number(summary.affected)} nodes: `,
      `${number(summary.by_customer.length)} customer(s), ${number(summary.by_shipment.length)} shipment(s).`),
    dataTable([{ key: "kind", label: "Kind" }, { key: "nodes", label: "Nodes", numeric: true }],
      summary.by_kind, { caption: "Affected nodes by kind", testid: "by-kind" }),
    dataTable([
      { key: "customer", label: "Customer", render: (r) => pageLink("/trace", { key: r.customer, direction: "upstream" }, r.customer) },
      { key: "quantity", label: "Quantity", numeric: true },
      { key: "unknown_quantity", label: "Lots without quantity", numeric: true },
      { key: "units", label: "Serials", numeric: true },
      { key: "shipments", label: "Shipments", numeric: true },
    ], summary.by_customer, { caption: "Affected customers", testid: "by-customer" }),
    dataTable([
      { key: "shipment", label: "Shipment", render: (r) => pageLink("/trace", { key: r.shipment, direction: "upstream" }, r.shipment) },
      { key: "quantity", label: "Quantity", numeric: true },
      { key: "unknown_quantity", label: "Lots without quantity", numeric: true },
      { key: "units", label: "Serials", numeric: true },
    ], summary.by_shipment, { caption: "Affected shipments", testid: "by-shipment" }),
  );
  if (mayAct(identity)) main.append(openCaseForm(keys));
}

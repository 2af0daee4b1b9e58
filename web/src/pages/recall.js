import { get, post } from "../api.js";
import { h, jsonOf, notice, number, pageLink } from "../dom.js";
import { dataTable } from "../table.js";

const OPENERS = new Set(["investigator", "qa"]);

/** Only investigators and qa open, refresh and close cases (the server refuses the rest). */
export function mayAct(identity) {
  return identity.no_auth || OPENERS.has(identity.role);
}

/** /recall: every case, newest first. */
export async function renderRecalls(main) {
  const { items } = await get("recalls");
  main.replaceChildren(h("h1", {}, "Recall cases"));
  if (!items.length) {
    main.append(notice("no recall case yet: open one from an impact page", "info"));
    return;
  }
  main.append(dataTable([
    { key: "id", label: "Case", numeric: true, render: (c) => pageLink(`/recall/${c.id}`, {}, `#${c.id}`) },
    { key: "title", label: "Title" },
    { key: "state", label: "State", render: (c) => `${c.state}${c.drill ? " (drill)" : ""}` },
    { key: "as_of", label: "Answer as of" },
    { key: "customers", label: "Customers", numeric: true },
    { key: "units", label: "Units", numeric: true },
  ], [...items].reverse(), { caption: `${items.length} case(s)`, testid: "cases" }));
}

/** The "open a recall case" form of the impact page. */
export function openCaseForm(seeds) {
  const title = h("input", { id: "case-title", name: "title", required: true, size: 50 });
  const reason = h("textarea", { id: "case-reason", name: "reason", rows: 2, cols: 50 });
  const drill = h("input", { id: "case-drill", name: "drill", type: "checkbox" });
  const message = h("div", { "aria-live": "polite" });
  return h("form", { class: "open-case", "data-testid": "open-case", onsubmit: async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      const opened = await post("recall_open", { title: title.value, seeds: seeds.join(","),
        reason: reason.value, drill: drill.checked ? "true" : "" });
      location.assign(`/recall/${opened.id}`);
    } catch (e) {
      message.append(notice(e.message));
    }
  } },
  h("h2", {}, "Open a recall case for these seeds"),
  h("label", { for: "case-title" }, "Title"), title,
  h("label", { for: "case-reason" }, "Reason"), reason,
  h("label", {}, drill, " a drill (mock recall: the same flow, flagged, each step timed)"),
  h("button", { type: "submit" }, "Open the case"), message);
}

/** /recall/ID: the pinned answer, its consignee list, what changed, exports, closing. */
export async function renderRecall(main, id, identity) {
  const c = await get("recall", { id });
  const record = jsonOf(c.json);
  main.replaceChildren(
    h("h1", {}, `Recall case #${c.id}: ${c.title}`),
    h("dl", { class: "identity", "data-testid": "case" },
      h("dt", {}, "state"), h("dd", {}, `${c.state}${c.drill ? " (DRILL: mock recall)" : ""}`),
      h("dt", {}, "seeds"), h("dd", {}, (record.seeds || []).join(", ")),
      h("dt", {}, "reason"), h("dd", {}, record.reason || "—"),
      h("dt", {}, "opened"), h("dd", {}, `${record.opened_at || ""} by ${record.opened_by || ""}`),
      h("dt", {}, "answer as of"), h("dd", {}, `${c.as_of} (log sequence ${c.log_sequence})`),
      h("dt", {}, "answer SHA-256"), h("dd", {}, h("code", {}, c.result_hash)),
      h("dt", {}, "consignees"), h("dd", {}, `${number(c.customers)} customer(s), ${number(c.shipments)} shipment(s), ${number(c.rows)} row(s), ${number(c.units)} unit(s)`),
      record.closed_at ? [h("dt", {}, "closed"), h("dd", {}, `${record.closed_at} by ${record.closed_by}: ${record.close_reason}`)] : null,
      (record.signatures || []).map((s) => [h("dt", {}, "signature"),
        h("dd", {}, `${s.signer}, ${s.meaning}, ${s.time} (record SHA-256 ${String(s.record_hash).slice(0, 12)}…)`)])),
  );
  const exports = h("p", { class: "actions", "data-testid": "exports" }, "Export the consignee list: ",
    ["csv", "xlsx", "pdf"].map((format, i) => [i ? " · " : "",
      h("a", { href: `/api/download/recall?id=${c.id}&format=${format}`, download: "" }, format.toUpperCase())]),
    " · ", h("a", { href: `/api/download/recall?id=${c.id}&format=xlsx&template=eu-fsca`, download: "" }, "EU FSCA list (XLSX)"),
    " · ", h("a", { href: `/api/download/recall?id=${c.id}&format=csv&template=fda-806`, download: "" }, "FDA 806 fields (CSV)"));
  const changes = h("section", { "aria-live": "polite", "data-testid": "diff" });
  const diffButton = h("button", { type: "button", onclick: async () => {
    changes.replaceChildren(h("p", {}, "Comparing the pinned answer with now…"));
    try {
      const d = await get("recall_diff", { id: c.id });
      changes.replaceChildren(h("h2", {}, "What changed since the pin"),
        h("p", {}, `From ${d.before} to ${d.after}: ${number(d.rows_added)} row(s) added, ${number(d.rows_removed)} removed, units ${Number(d.units_change) >= 0 ? "+" : ""}${number(d.units_change)}.`),
        d.customers.length ? dataTable([
          { key: "customer", label: "Customer" },
          { key: "units_before", label: "Units before", numeric: true },
          { key: "units_after", label: "Units now", numeric: true },
        ], d.customers, { testid: "diff-customers" }) : h("p", {}, "No customer's units changed."));
    } catch (e) {
      changes.replaceChildren(notice(e.message));
    }
  } }, "What changed since the pin?");
  main.append(exports, h("p", {}, diffButton), changes);
  if (c.state === "open" && mayAct(identity)) main.append(closeForm(c));
  const { items } = await get("consignees", { id: c.id });
  main.append(h("h2", {}, "Consignee list (as pinned)"), dataTable([
    { key: "customer", label: "Customer" },
    { key: "customer_name", label: "Name" },
    { key: "city", label: "City" },
    { key: "country", label: "Country" },
    { key: "shipment", label: "Shipment" },
    { key: "ship_date", label: "Shipped" },
    { key: "product", label: "Product" },
    { key: "lot", label: "Lot" },
    { key: "serial", label: "Serial" },
    { key: "quantity", label: "Quantity", numeric: true },
    { key: "uom", label: "UoM" },
  ], items, { caption: `${number(items.length)} row(s)`, testid: "consignees" }));
}

function closeForm(c) {
  const reason = h("textarea", { id: "close-reason", name: "reason", rows: 2, cols: 50, required: true });
  const password = h("input", { id: "close-password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const message = h("div", { "aria-live": "polite" });
  return h("form", { class: "close-case", "data-testid": "close-case", onsubmit: async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      await post("recall_close", { id: String(c.id), reason: reason.value, password: password.value });
      location.reload();
    } catch (e) {
      password.value = "";
      message.append(notice(e.message));
    }
  } },
  h("h2", {}, "Close the case"),
  h("p", { class: "help" }, "Closing signs the case with the meaning “responsibility”: your printed name, the time and the SHA-256 of the case record. Re-enter your password to sign."),
  h("label", { for: "close-reason" }, "What was done"), reason,
  h("label", { for: "close-password" }, "Your password (signature)"), password,
  h("button", { type: "submit" }, "Sign and close"), message);
}

import { get } from "../api.js";
import { h, notice, pageLink, pageUrl } from "../dom.js";
import { dataTable } from "../table.js";

/** /find?q=TEXT: one box for a scanned barcode, Digital Link, GTIN + lot, delivery number... */
export async function renderFind(main, params) {
  const text = params.get("q") || "";
  const box = h("input", { id: "q", name: "q", type: "search", value: text, autofocus: true,
    placeholder: "Scan or type: barcode, GS1 Digital Link, GTIN + lot, delivery, key…",
    "aria-describedby": "q-help" });
  main.replaceChildren(
    h("h1", {}, "Find"),
    h("form", { class: "find", role: "search", onsubmit: (event) => {
      event.preventDefault();
      location.assign(pageUrl("/find", { q: box.value.trim() }));
    } },
    h("label", { for: "q" }, "What do you have in hand?"), box,
    h("button", { type: "submit" }, "Find"),
    h("p", { id: "q-help", class: "help" },
      "A scanned GS1 barcode (with or without AIM prefix), a GS1 Digital Link URL, GTIN and lot or serial, "
      + "an ERP material and batch, a delivery or order number, or the beginning of a key.")),
  );
  if (!text) return;
  const found = await get("find", { q: text, limit: 50 });
  const candidates = found.candidates;
  if (!candidates.length) {
    main.append(notice(`nothing matches “${text}”`, "info"));
    return;
  }
  main.append(dataTable([
    { key: "key", label: "Key", render: (r) => pageLink("/trace", { key: r.key }, r.key) },
    { key: "kind", label: "Kind" },
    { key: "product", label: "Product" },
    { key: "why", label: "Why it matched" },
    { key: "actions", label: "Open", render: (r) => h("span", { class: "actions" },
      pageLink("/trace", { key: r.key, direction: "upstream" }, "where-from"), " · ",
      pageLink("/impact", { keys: r.key }, "impact"), " · ",
      pageLink("/dhr", { key: r.key }, "DHR")) },
  ], candidates, { caption: `${candidates.length} candidate(s)`, testid: "candidates" }));
}

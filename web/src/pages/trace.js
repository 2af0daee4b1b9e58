import { get } from "../api.js";
import { h, notice, number, pageLink, pageUrl } from "../dom.js";
import { drawGraph } from "../graph.js";
import { dataTable } from "../table.js";

function list(params, name) {
  return (params.get(name) || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** /trace?key=K&direction=downstream|upstream&depth=N&hide=a,b&expand=x,y */
export async function renderTrace(main, params) {
  const key = (params.get("key") || "").trim();
  const direction = ["upstream", "hourglass"].includes(params.get("direction"))
    ? params.get("direction") : "downstream";
  const depth = params.get("depth") || "";
  const hide = list(params, "hide");
  const expand = list(params, "expand");
  const state = { key, direction, depth, hide: hide.join(","), expand: expand.join(",") };
  const go = (changes) => location.assign(pageUrl("/trace", { ...state, ...changes }));

  const keyBox = h("input", { id: "key", name: "key", value: key, required: true, size: 48 });
  const directionBox = h("select", { id: "direction", name: "direction" },
    h("option", { value: "downstream", selected: direction === "downstream" }, "downstream (where-used)"),
    h("option", { value: "upstream", selected: direction === "upstream" }, "upstream (where-from)"),
    h("option", { value: "hourglass", selected: direction === "hourglass" }, "hourglass (both)"));
  const depthBox = h("input", { id: "depth", name: "depth", type: "number", min: 1, max: 10000,
    value: depth, placeholder: "all", size: 5 });
  const controls = h("form", { class: "controls", onsubmit: (event) => {
    event.preventDefault();
    go({ key: keyBox.value.trim(), direction: directionBox.value, depth: depthBox.value, expand: "" });
  } },
  h("label", { for: "key" }, "Key"), keyBox,
  h("label", { for: "direction" }, "Direction"), directionBox,
  h("label", { for: "depth" }, "Depth"), depthBox,
  h("button", { type: "submit" }, "Trace"));
  main.replaceChildren(h("h1", {}, "Trace"), controls);
  if (!key) {
    main.append(notice("give a key (or find one first)", "info"));
    return;
  }

  const query = { key, direction };
  if (depth) query.depth = depth;
  if (hide.length) query.hide = hide.join(",");
  if (expand.length) query.expand = expand.join(",");
  const drawing = await get("draw", query);
  const kinds = [...new Set([...drawing.nodes.filter((n) => n.key && n.key !== key).map((n) => n.kind),
    ...drawing.nodes.filter((n) => !n.key).map((n) => n.kind), ...hide])].sort();
  const hider = h("fieldset", { class: "kinds" }, h("legend", {}, "Show kinds"),
    kinds.map((kind) => h("label", {}, h("input", { type: "checkbox", name: "kind", value: kind,
      checked: !hide.includes(kind), onchange: (event) => {
        const next = event.target.checked ? hide.filter((k) => k !== kind) : [...hide, kind];
        go({ hide: next.join(",") });
      } }), ` ${kind}`)));
  const drawn = drawing.nodes.filter((n) => n.key).length;
  const folded = drawing.nodes.filter((n) => !n.key);
  const summary = h("p", { class: "summary", "data-testid": "summary" },
    `${number(drawing.reached)} nodes reached (seed included); ${number(drawn)} drawn`,
    folded.length ? `, ${number(folded.length)} count node(s): click one to open it, or hide its kind to see past it` : "",
    Number(drawing.links_left_out) ? `; ${number(drawing.links_left_out)} further links not drawn` : "",
    ".",
    // One click past a folded kind (a lot's thousands of serials hide what they reached).
    [...new Set(folded.map((n) => n.kind))].filter((kind) => !hide.includes(kind))
      .map((kind) => [" ", h("button", { type: "button", class: "hide-kind",
        onclick: () => go({ hide: [...hide, kind].join(",") }) }, `Hide ${kind}`)]));
  const details = h("aside", { class: "details", "aria-live": "polite", "data-testid": "details" },
    h("p", { class: "help" }, "Select a node (in the graph or the table) to see why it is here."));
  const canvas = h("div", { class: "graph", role: "img",
    "aria-label": `genealogy graph of ${key}, ${direction}; the table lists the same nodes` });

  let cy = null;
  async function select(node) {
    if (cy) {  // the same node in the graph: selected and centred
      cy.$(":selected").unselect();
      const drawnNode = cy.getElementById(node.id);
      drawnNode.select();
      cy.center(drawnNode);
    }
    details.replaceChildren(h("h2", {}, node.key),
      h("p", {}, `${node.kind}, ${node.upstream ? "upstream" : "downstream"} depth ${node.depth}`),
      h("p", { class: "actions" },
        pageLink("/trace", { key: node.key, direction: "downstream" }, "where-used"), " · ",
        pageLink("/trace", { key: node.key, direction: "upstream" }, "where-from"), " · ",
        pageLink("/trace", { key: node.key, direction: "hourglass" }, "hourglass"), " · ",
        pageLink("/impact", { keys: node.key }, "impact"), " · ",
        pageLink("/dhr", { key: node.key }, "DHR")));
    details.scrollIntoView({ block: "nearest" });  // from the table below: bring it up
    if (node.key === key) return;
    try {
      // Material flows from source to target: from the seed down, or from the node up there.
      const [source, target] = node.upstream ? [node.key, key] : [key, node.key];
      const path = await get("path", { source, target });
      details.append(h("h3", {}, "Why is it here?"), h("ol", { class: "path" },
        path.steps.map((s) => h("li", {}, s.edge_kind ? `${s.edge_kind} → ` : "", h("code", {}, s.key),
          ` (${s.kind})`))));
    } catch (e) {
      details.append(notice(e.message));
    }
  }

  function expandGroup(node) {
    if (!expand.includes(node.parent_key)) go({ expand: [...expand, node.parent_key].join(",") });
  }

  const table = dataTable([
    { key: "label", label: "Node", render: (n) => n.key
      ? h("button", { type: "button", class: "link", onclick: () => select(n) }, n.key)
      : h("button", { type: "button", class: "link", onclick: () => expandGroup(n) }, `${n.label} (open)`) },
    { key: "kind", label: "Kind" },
    { key: "depth", label: "Depth", numeric: true },
    { key: "count", label: "Count", numeric: true },
  ], drawing.nodes, { caption: "The drawn nodes", testid: "trace-table" });
  main.append(hider, summary, h("div", { class: "trace-layout" }, canvas, details), table);
  cy = drawGraph(canvas, drawing, key, { onSelect: select, onExpand: expandGroup });
}

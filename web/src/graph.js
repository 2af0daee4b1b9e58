// The genealogy drawing in cytoscape: positions come from the server (engine/drawing.py), so
// the browser only paints ("preset" layout). Shapes and labels carry the kind, not colour alone.
import cytoscape from "cytoscape";

const SHAPES = {
  lot: "round-rectangle", serial: "ellipse", work_order: "diamond", logistic_unit: "rectangle",
  shipment: "tag", customer: "star", equipment: "hexagon", sterilization_load: "octagon",
};

function shortLabel(node) {
  if (!node.key) return node.label;
  const tail = node.key.split(/[:/]/).filter(Boolean).pop() || node.key;
  return `${node.kind}\n${tail.length > 22 ? `…${tail.slice(-21)}` : tail}`;
}

export function drawGraph(container, drawing, seedKey, { onSelect, onExpand }) {
  const elements = [
    ...drawing.nodes.map((n) => ({
      group: "nodes",
      data: { ...n, display: shortLabel(n), seed: n.key === seedKey ? 1 : 0, folded: n.key ? 0 : 1 },
      position: { x: n.x, y: n.y },
    })),
    ...drawing.edges.map((e, i) => ({
      group: "edges", data: { id: `e${i}`, source: e.source, target: e.target, tree: e.tree ? 1 : 0 },
    })),
  ];
  const cy = cytoscape({
    container,
    elements,
    layout: { name: "preset", fit: true, padding: 30 },
    minZoom: 0.05,
    maxZoom: 3,
    style: [
      { selector: "node", style: {
        shape: (n) => SHAPES[n.data("kind")] || "ellipse",
        label: "data(display)", "text-wrap": "wrap", "font-size": 10, "text-valign": "bottom",
        "text-margin-y": 4, width: 26, height: 26, "background-color": "#4a6fa5",
        "border-width": 1, "border-color": "#1d2b3a" } },
      { selector: "node[seed = 1]", style: { "background-color": "#b03a2e", width: 34, height: 34,
        "border-width": 3 } },
      { selector: "node[folded = 1]", style: { shape: "round-rectangle", width: 150, height: 34,
        "background-color": "#f3e9c6", "border-style": "dashed", "border-width": 2,
        "text-valign": "center", "text-margin-y": 0, "text-max-width": 140, "font-size": 10 } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#000" } },
      { selector: "edge", style: { width: 1.2, "curve-style": "straight", "line-color": "#6b7b8c",
        "target-arrow-shape": "triangle", "target-arrow-color": "#6b7b8c", "arrow-scale": 0.8 } },
      { selector: "edge[tree = 0]", style: { "line-style": "dashed", "line-color": "#9aa7b4" } },
    ],
  });
  cy.on("tap", "node", (event) => {
    const data = event.target.data();
    if (data.folded) onExpand(data);
    else onSelect(data);
  });
  return cy;
}

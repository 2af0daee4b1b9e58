// A sortable, paged table: header buttons sort (keyboard too), 100 rows a page.
import { h, number } from "./dom.js";

const PAGE = 100;

/**
 * columns: [{key, label, numeric?, render?(row)}]; rows: plain objects.
 * Returns an element that re-renders itself on sort and paging.
 */
export function dataTable(columns, rows, { caption, pageSize = PAGE, testid } = {}) {
  const state = { sort: null, descending: false, page: 0 };
  const box = h("div", { class: "table-box", "data-testid": testid });

  function sorted() {
    if (!state.sort) return rows;
    const column = columns.find((c) => c.key === state.sort);
    const value = (r) => (column.numeric ? Number(r[column.key] ?? 0) : String(r[column.key] ?? ""));
    const out = [...rows].sort((a, b) => {
      const x = value(a), y = value(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    return state.descending ? out.reverse() : out;
  }

  function render() {
    const all = sorted();
    const pages = Math.max(1, Math.ceil(all.length / pageSize));
    state.page = Math.min(state.page, pages - 1);
    const shown = all.slice(state.page * pageSize, (state.page + 1) * pageSize);
    const head = h("tr", {}, columns.map((c) => h("th", {
      scope: "col",
      "aria-sort": state.sort === c.key ? (state.descending ? "descending" : "ascending") : "none",
      class: c.numeric ? "num" : null,
    }, h("button", {
      type: "button",
      onclick: () => {
        state.descending = state.sort === c.key ? !state.descending : !!c.numeric;
        state.sort = c.key;
        render();
      },
    }, c.label, state.sort === c.key ? (state.descending ? " ▼" : " ▲") : ""))));
    const body = shown.map((r) => h("tr", {}, columns.map((c) => h("td",
      { class: c.numeric ? "num" : null },
      c.render ? c.render(r) : (c.numeric ? number(r[c.key]) : String(r[c.key] ?? "")),
    ))));
    const pager = pages > 1 ? h("nav", { class: "pager", "aria-label": "pages" },
      h("button", { type: "button", disabled: state.page === 0,
        onclick: () => { state.page -= 1; render(); } }, "‹ Previous"),
      ` Page ${state.page + 1} of ${pages} (${number(all.length)} rows) `,
      h("button", { type: "button", disabled: state.page >= pages - 1,
        onclick: () => { state.page += 1; render(); } }, "Next ›")) : null;
    const table = h("table", {}, caption ? h("caption", {}, caption) : null,
      h("thead", {}, head), h("tbody", {}, body));
    box.replaceChildren(...(pager ? [table, pager] : [table]));
  }

  render();
  return box;
}

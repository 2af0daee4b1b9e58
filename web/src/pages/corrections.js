import { get, post } from "../api.js";
import { h, jsonOf, notice, number } from "../dom.js";

const DECIDERS = new Set(["investigator", "qa"]);

function describe(change) {
  switch (change.type) {
    case "set-attribute":
      return `set ${change.key} ${change.field}: ${JSON.stringify(change.previous)} → ${JSON.stringify(change.value)}`;
    case "approval-policy":
      return "a new approval policy";
    case "move-serial":
      return `move ${change.dst} from ${change.src} to ${change.move_to}`;
    default:
      return `${change.type || "change"}: ${change.src || ""} → ${change.dst || ""}${change.kind ? ` (${change.kind})` : ""}`
        + (change.edges ? `, ${number(change.edges.length)} assertion(s)` : "");
  }
}

/** /corrections: proposals of changes to recorded data; qa approves (signs) or rejects. */
export async function renderCorrections(main, params, identity) {
  const { items } = await get("corrections");
  const records = items.map((r) => ({ ...r, record: jsonOf(r.json) })).reverse();
  const pending = records.filter((r) => r.state === "pending");
  main.replaceChildren(h("h1", {}, "Corrections"),
    h("p", { class: "help" }, "A change to recorded data is proposed by one person and applied only when the approval path has signed it (by default one qa user other than the author). Approving re-enters your password: that is your e-signature."));
  main.append(h("h2", {}, `Waiting for a decision (${pending.length})`));
  if (!pending.length) main.append(h("p", {}, "none"));
  for (const r of pending) main.append(card(r, identity));
  const done = records.filter((r) => r.state !== "pending");
  main.append(h("h2", {}, `Decided (${done.length})`), h("ul", { "data-testid": "decided" }, done.map((r) =>
    h("li", {}, `#${r.id} ${r.state}: ${describe(r.record.change || {})} — proposed by ${r.record.author}`,
      r.record.decided_by ? `, decided by ${r.record.decided_by}` : "",
      r.record.decision_reason ? ` (${r.record.decision_reason})` : ""))));
}

function card(r, identity) {
  const c = r.record;
  const message = h("div", { "aria-live": "polite" });
  const reason = h("input", { id: `reason-${r.id}`, name: "reason", size: 40 });
  const password = h("input", { id: `password-${r.id}`, name: "password", type: "password",
    autocomplete: "current-password" });
  async function decide(action) {
    message.replaceChildren();
    try {
      await post(`correction_${action}`, { id: String(r.id), reason: reason.value, password: password.value });
      location.reload();
    } catch (e) {
      password.value = "";
      message.append(notice(e.message));
    }
  }
  const mayDecide = identity.no_auth || DECIDERS.has(identity.role);
  return h("section", { class: "correction", "data-testid": `correction-${r.id}` },
    h("h3", {}, `#${r.id}: ${describe(c.change || {})}`),
    h("p", {}, `Proposed by ${c.author} at ${c.created_at}: “${c.reason}”`),
    (c.signatures || []).length ? h("p", {}, `Signed so far: ${c.signatures.map((s) => `${s.signer} (${s.meaning})`).join(", ")}`) : null,
    mayDecide ? h("form", { class: "controls", onsubmit: (event) => { event.preventDefault(); decide("approve"); } },
      h("label", { for: `reason-${r.id}` }, "Reason"), reason,
      h("label", { for: `password-${r.id}` }, "Your password (signature)"), password,
      h("button", { type: "submit" }, "Approve and sign"),
      h("button", { type: "button", onclick: () => decide("reject") }, "Reject")) : null,
    message);
}

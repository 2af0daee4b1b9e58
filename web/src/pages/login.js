import { ApiError, post } from "../api.js";
import { h, notice } from "../dom.js";

/** Only a path of this site (never another origin) may be where sign-in returns to. */
function safeNext(value) {
  return value && value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\")
    ? value : "/find";
}

export function renderLogin(main, params) {
  document.title = "Sign in · tracegraph";
  const message = h("div", { "aria-live": "polite" });
  const reason = params.get("reason");
  if (reason) message.append(notice(reason, "info"));
  const user = h("input", { id: "user", name: "user", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      await post("login", { user: user.value, password: password.value });
      location.assign(safeNext(params.get("next")));
    } catch (e) {
      password.value = "";
      message.append(notice(e instanceof ApiError && e.status === 401
        ? "Sign-in failed: check the user name and password (five failures lock the account)."
        : e.message));
      password.focus();
    }
  } },
  h("h1", {}, "Sign in to tracegraph"),
  h("label", { for: "user" }, "User"), user,
  h("label", { for: "password" }, "Password"), password,
  h("button", { type: "submit" }, "Sign in"), message);
  main.replaceChildren(form);
  main.setAttribute("data-ready", "true");
}

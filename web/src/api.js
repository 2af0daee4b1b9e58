// Calls to /api/<name>: each one gRPC method on the server (server/web/gateway.py).

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function get(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  return answer(await fetch(`/api/${name}${query ? `?${query}` : ""}`, {
    credentials: "same-origin", headers: { accept: "application/json" },
  }));
}

export async function post(name, body = {}) {
  return answer(await fetch(`/api/${name}`, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrf || "" },
    body: JSON.stringify(body),
  }));
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status, "BAD_ANSWER",
      `the server answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    throw new ApiError(response.status, body.code || "ERROR", body.error || response.statusText);
  }
  if (body && typeof body.csrf === "string") csrf = body.csrf;
  return body;
}

/** Who is signed in (null: nobody); remembers the CSRF token for later changes. */
export async function whoAmI() {
  const identity = await get("whoami");
  return identity.signed_in ? identity : null;
}

"""The simulated services' web pages and scripts, kept in code so an installed wheel has them."""

from __future__ import annotations

DESKTOP_CSS = """\
:root { --ink: #1d2733; --muted: #5d6b7a; --accent: #0b6bcb; --panel: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: var(--ink); }
header { display: flex; justify-content: space-between; align-items: center;
         padding: 0.6rem 1.2rem; background: var(--ink); color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
main { display: grid; grid-template-columns: 1fr 2fr; gap: 1rem; padding: 1rem 1.2rem; }
main.sign-in { display: block; max-width: 24rem; margin: 4rem auto; }
section { background: var(--panel); border-radius: 6px; padding: 0.8rem 1rem; }
h2 { font-size: 1rem; margin: 0 0 0.6rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
label { display: block; margin-bottom: 0.8rem; }
input { display: block; width: 100%; padding: 0.4rem; margin-top: 0.2rem; }
button { background: var(--accent); color: #fff; border: 0; border-radius: 4px;
         padding: 0.5rem 1rem; cursor: pointer; }
.status { color: var(--muted); font-size: 0.9rem; }
"""

DESKTOP_JS = """\
// Agent desktop: sign-in on /, then the customer record on /desktop.
"use strict";

function show(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

async function signIn(event) {
  event.preventDefault();
  const agent = new FormData(event.target).get("agent");
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ agent }),
  });
  if (!response.ok) {
    show("status", "Sign-in failed: HTTP " + response.status);
    return;
  }
  const { token } = await response.json();
  sessionStorage.setItem("cxj-demo-token", token);
  window.location.assign("/desktop");
}

async function loadCustomer(panel) {
  const started = performance.now();
  const token = sessionStorage.getItem("cxj-demo-token");
  const response = await fetch("/api/crm/customers/" + encodeURIComponent(panel.dataset.customer), {
    headers: token ? { Authorization: "Bearer " + token } : {},
    credentials: "same-origin",
  });
  if (!response.ok) {
    show("status", "CRM lookup failed: HTTP " + response.status);
    return;
  }
  const { customer } = await response.json();
  for (const field of ["name", "status", "tier", "openCases", "lastContact"]) {
    show("customer-" + field, String(customer[field]));
  }
  show("status", "Ready in " + Math.round(performance.now() - started) + " ms");
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("sign-in");
  if (form) form.addEventListener("submit", signIn);
  const panel = document.getElementById("customer");
  if (panel) loadCustomer(panel);
});
"""

_HEAD = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/assets/desktop.css">
<script src="/assets/desktop.js" defer></script>
</head>
"""

SIGN_IN_HTML = (
    _HEAD.format(title="Agent Desktop · Sign in")
    + """\
<body>
<main class="sign-in">
<h1>Agent Desktop</h1>
<form id="sign-in">
<label>Agent ID <input name="agent" value="demo-agent" required></label>
<button type="submit">Sign in</button>
</form>
<p id="status" class="status" role="status"></p>
</main>
</body>
</html>
"""
)

DESKTOP_HTML = (
    _HEAD.format(title="Agent Desktop")
    + """\
<body>
<header><h1>Agent Desktop</h1><span id="status" class="status" role="status">Loading…</span>
</header>
<main>
<section id="queue">
<h2>Queue</h2>
<dl><dt>Voice</dt><dd>3 waiting</dd><dt>Chat</dt><dd>1 waiting</dd></dl>
</section>
<section id="customer" data-customer="probe-customer">
<h2>Customer</h2>
<dl>
<dt>Name</dt><dd id="customer-name">…</dd>
<dt>Status</dt><dd id="customer-status">…</dd>
<dt>Tier</dt><dd id="customer-tier">…</dd>
<dt>Open cases</dt><dd id="customer-openCases">…</dd>
<dt>Last contact</dt><dd id="customer-lastContact">…</dd>
</dl>
</section>
</main>
</body>
</html>
"""
)

WIDGET_JS = """\
// Chat widget: opens a session, talks to the bot over a WebSocket, shows agent replies.
(function () {
  "use strict";
  const origin = document.currentScript ? new URL(document.currentScript.src) : location;
  const box = document.createElement("aside");
  box.id = "cxj-chat";
  box.innerHTML = '<ol id="cxj-chat-log"></ol><form><input name="text" ' +
    'placeholder="Type a message" autocomplete="off"><button>Send</button></form>';
  document.body.appendChild(box);
  const log = box.querySelector("ol");
  const add = (from, text) => {
    const item = document.createElement("li");
    item.className = from;
    item.textContent = from + ": " + text;
    log.appendChild(item);
  };
  fetch(origin.origin + "/api/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ channel: "web", locale: navigator.language || "en" }),
  })
    .then((response) => response.json())
    .then(({ session }) => {
      const scheme = origin.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(scheme + "//" + origin.host + "/ws");
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        add(message.from, message.text);
      });
      box.querySelector("form").addEventListener("submit", (event) => {
        event.preventDefault();
        const input = event.target.elements.text;
        socket.send(JSON.stringify({ session: session.id, text: input.value }));
        add("customer", input.value);
        input.value = "";
      });
    })
    .catch((error) => add("system", "chat unavailable: " + error));
})();
"""

CHAT_HTML = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Support chat</title></head>
<body>
<h1>Support</h1>
<p>Ask the assistant anything; ask for an agent to reach a person.</p>
<script src="/widget.js"></script>
</body>
</html>
"""

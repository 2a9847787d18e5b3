// walletgate key portal. No library, no build step: the page talks to the
// wallet the browser already has (Leather for Stacks, any EIP-1193 wallet for
// EVM) and to this gateway's own key-management endpoints. Nothing is kept in
// storage; a new key lives only in the DOM until it is dismissed.
"use strict";

(() => {
  const API = "api/v1/api-keys";
  const DAY_MS = 86400000;
  const WALLET_REJECTED = 4001; // EIP-1193 "User Rejected Request"; Leather uses the same code
  const PERMISSIONS = ["create", "execute", "cancel"];
  const PERMISSION_LABELS = { create: "Create", execute: "Execute", cancel: "Cancel" };

  const $ = (id) => document.getElementById(id);
  const state = { wallet: null, keys: new Map(), eventsAvailable: false, busy: false };

  // -- small DOM helpers (no HTML strings anywhere: names come from users) ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // -- errors said in words ----------------------------------------------------

  class PortalError extends Error {}

  function waitText(seconds) {
    const s = Math.max(1, Math.ceil(Number(seconds) || 0));
    if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
    const m = Math.ceil(s / 60);
    return `${m} minute${m === 1 ? "" : "s"}`;
  }

  function walletErrorCode(err) {
    if (!err || typeof err !== "object") return undefined;
    // EIP-1193 puts the code on the error; Leather rejects with a JSON-RPC
    // response whose `error` holds it.
    if (err.code !== undefined) return Number(err.code);
    if (err.error && err.error.code !== undefined) return Number(err.error.code);
    return undefined;
  }

  function walletError(err, what) {
    if (walletErrorCode(err) === WALLET_REJECTED) {
      return new PortalError(
        `Your wallet refused to ${what}. Nothing was changed. Try again and approve the request in your wallet.`,
      );
    }
    const detail = (err && (err.message || (err.error && err.error.message))) || "no reason given";
    return new PortalError(`Your wallet could not ${what} (${detail}). Nothing was changed.`);
  }

  function apiError(status, body, headers) {
    const code = body && body.code;
    const details = (body && body.details) || {};
    if (status === 429 || code === "RATE_LIMITED") {
      const wait = headers.get("Retry-After");
      const when = wait ? `in ${waitText(wait)}` : "in a minute";
      return new PortalError(
        `Too many requests: the gateway limits how often a wallet can manage keys. Try again ${when}.`,
      );
    }
    if (code === "SIGNATURE_EXPIRED") {
      return new PortalError(
        "Your signature expired before it reached the gateway: a signed request is valid for a few minutes. Check that your device's clock is right, then try again.",
      );
    }
    if (code === "SIGNATURE_REPLAYED") {
      return new PortalError("That signature was already used. Try again: your wallet will sign a fresh message.");
    }
    if (code === "INVALID_SIGNATURE" || code === "UNAUTHORIZED") {
      return new PortalError(
        "The gateway could not verify your wallet's signature. Make sure the connected account is the one that signed, then try again.",
      );
    }
    if (code === "INVALID_WALLET") return new PortalError("The gateway does not accept this wallet address.");
    if (code === "INVALID_MESSAGE" || code === "BAD_REQUEST") {
      const field = details.field ? ` (${fieldName(details.field)})` : "";
      return new PortalError(`The gateway refused the request${field}: ${body.error}.`);
    }
    if (code === "NOT_FOUND") return new PortalError("That key no longer exists for this wallet. Refresh the list.");
    if (status >= 500) {
      return new PortalError(`The gateway is having trouble right now (${code || status}). Try again in a minute.`);
    }
    return new PortalError((body && body.error) || `The gateway answered ${status}.`);
  }

  function fieldName(field) {
    const names = { keyName: "name", ipAllowlist: "IP allowlist", expiresAt: "expiry", rateLimit: "requests per minute" };
    return names[field] || field;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    box.focus();
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function say(message) {
    $("status").textContent = message;
  }

  // -- wallets -----------------------------------------------------------------

  const wallets = {
    stacks: {
      label: "Stacks",
      async connect() {
        const provider = window.LeatherProvider;
        if (!provider || typeof provider.request !== "function") {
          throw new PortalError("No Leather wallet found in this browser. Install Leather, unlock it and reload this page.");
        }
        let response;
        try {
          response = await provider.request("getAddresses");
        } catch (err) {
          throw walletError(err, "share its address");
        }
        const entries = (response && response.result && response.result.addresses) || [];
        const stx = entries.find((entry) => entry && entry.symbol === "STX");
        if (!stx) throw new PortalError("Your Leather wallet shared no Stacks address. Select a Stacks account and try again.");
        return { chain: "stacks", address: stx.address, publicKey: stx.publicKey || null };
      },
      async sign(wallet, message) {
        let response;
        try {
          response = await window.LeatherProvider.request("stx_signMessage", { message });
        } catch (err) {
          throw walletError(err, "sign the request");
        }
        const result = (response && response.result) || {};
        if (typeof result.signature !== "string") throw new PortalError("Your wallet returned no signature.");
        return { signature: result.signature, publicKey: result.publicKey || wallet.publicKey };
      },
    },
    evm: {
      label: "EVM",
      async connect() {
        const provider = window.ethereum;
        if (!provider || typeof provider.request !== "function") {
          throw new PortalError("No EVM wallet found in this browser. Install one (MetaMask, Rabby, …), unlock it and reload this page.");
        }
        let accounts;
        try {
          accounts = await provider.request({ method: "eth_requestAccounts" });
        } catch (err) {
          throw walletError(err, "share its address");
        }
        if (!Array.isArray(accounts) || typeof accounts[0] !== "string") {
          throw new PortalError("Your wallet shared no account. Unlock it, select an account and try again.");
        }
        return { chain: "evm", address: accounts[0], publicKey: null };
      },
      async sign(wallet, message) {
        let signature;
        try {
          signature = await window.ethereum.request({ method: "personal_sign", params: [utf8Hex(message), wallet.address] });
        } catch (err) {
          throw walletError(err, "sign the request");
        }
        if (typeof signature !== "string") throw new PortalError("Your wallet returned no signature.");
        return { signature, publicKey: null };
      },
    },
  };

  function utf8Hex(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Every signed message names its action and the time it was made (ms); the
  // gateway accepts it once, within a few minutes.
  async function signed(action, fields) {
    const wallet = state.wallet;
    const message = JSON.stringify({ action, ...fields, timestamp: Date.now() });
    say("Waiting for your wallet to sign…");
    const { signature, publicKey } = await wallets[wallet.chain].sign(wallet, message);
    return { message, signature, walletAddress: wallet.address, publicKey };
  }

  function signedHeaders(proof) {
    const headers = { "X-Message": proof.message, "X-Signature": proof.signature, "X-Wallet-Address": proof.walletAddress };
    if (proof.publicKey) headers["X-Public-Key"] = proof.publicKey;
    return headers;
  }

  function signedBody(proof) {
    const body = { message: proof.message, signature: proof.signature, walletAddress: proof.walletAddress };
    if (proof.publicKey) body.publicKey = proof.publicKey;
    return JSON.stringify(body);
  }

  async function call(method, path, init) {
    let response;
    try {
      response = await fetch(path, { method, credentials: "omit", cache: "no-store", ...init });
    } catch {
      throw new PortalError("Cannot reach the gateway: your connection or the gateway is down. Check your network and try again.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) throw apiError(response.status, body, response.headers);
    return body;
  }

  // -- formatting ----------------------------------------------------------------

  function formatDate(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "—";
    return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function shortAddress(address) {
    return address.length > 14 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
  }

  // -- usage chart -----------------------------------------------------------------

  const TIME_FIELDS = ["hour", "at", "start", "time", "ts", "timestamp"];
  const FAILED_FIELDS = ["client_error", "clientError", "rate_limited", "rateLimited", "server_error", "serverError", "failed"];

  function toTime(value) {
    if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }

  function counts(entry) {
    if (typeof entry === "number") return { ok: entry, failed: 0 };
    const n = (name) => (typeof entry[name] === "number" ? entry[name] : 0);
    const failed = FAILED_FIELDS.reduce((sum, name) => sum + n(name), 0);
    const ok = n("success") + n("successful") + n("ok");
    const total = n("total") + n("requests");
    return { ok: ok || Math.max(total - failed, 0), failed };
  }

  // usageStats.hourly: a list of {hour, success, client_error, …} or a map
  // from hour to counts; summed into the last 7 calendar days.
  function dailyUsage(hourly, now) {
    const rows = Array.isArray(hourly)
      ? hourly.map((entry) => [toTime(TIME_FIELDS.map((f) => entry && entry[f]).find((v) => v !== undefined)), entry])
      : Object.entries(hourly).map(([hour, entry]) => [toTime(/^\d+$/.test(hour) ? Number(hour) : hour), entry]);
    const today = new Date(now);
    today.setHours(0, 0, 0, 0);
    const days = Array.from({ length: 7 }, (_, i) => ({ start: today.getTime() - (6 - i) * DAY_MS, ok: 0, failed: 0 }));
    for (const [at, entry] of rows) {
      if (at === null || entry === null || entry === undefined) continue;
      const day = days.find((d) => at >= d.start && at < d.start + DAY_MS);
      if (!day) continue;
      const c = counts(entry);
      day.ok += c.ok;
      day.failed += c.failed;
    }
    return days;
  }

  function usageChart(stats) {
    const usage = stats || {};
    if (usage.hourly && typeof usage.hourly === "object") {
      try {
        return weekChart(dailyUsage(usage.hourly, Date.now()));
      } catch {
        // An hourly shape this page does not know: the lifetime counters still hold.
      }
    }
    return lifetimeChart(usage.successfulRequests || 0, usage.failedRequests || 0);
  }

  function weekChart(days) {
    const total = days.reduce((s, d) => s + d.ok + d.failed, 0);
    const failed = days.reduce((s, d) => s + d.failed, 0);
    const peak = Math.max(1, ...days.map((d) => d.ok + d.failed));
    const label = `${total.toLocaleString()} requests in the last 7 days, ${failed.toLocaleString()} failed`;
    const chart = svg("svg", { viewBox: "0 0 126 44", width: 126, height: 44, role: "img", "aria-label": label, class: "spark" });
    chart.append(svg("title", {}, label));
    days.forEach((day, i) => {
      const x = i * 18 + 1;
      const okH = Math.round((day.ok / peak) * 36);
      const badH = Math.round((day.failed / peak) * 36);
      chart.append(svg("rect", { x, y: 38, width: 14, height: 2, class: "bar-base" }));
      if (okH) chart.append(svg("rect", { x, y: 38 - okH - badH, width: 14, height: okH, rx: 2, class: "bar-ok" }));
      if (badH) chart.append(svg("rect", { x, y: 38 - badH, width: 14, height: badH, rx: 2, class: "bar-bad" }));
    });
    return el("div", { class: "usage" }, chart, el("span", { class: "usage-text", text: `${total.toLocaleString()} req · ${failed.toLocaleString()} failed, 7 days` }));
  }

  function lifetimeChart(ok, failed) {
    const total = ok + failed;
    const label = total ? `${total.toLocaleString()} requests in total, ${failed.toLocaleString()} failed` : "No requests yet";
    const chart = svg("svg", { viewBox: "0 0 126 10", width: 126, height: 10, role: "img", "aria-label": label, class: "meter" });
    chart.append(svg("title", {}, label));
    chart.append(svg("rect", { x: 0, y: 0, width: 126, height: 10, rx: 5, class: "bar-base" }));
    if (total) {
      const okW = Math.round((ok / total) * 126);
      if (okW) chart.append(svg("rect", { x: 0, y: 0, width: okW, height: 10, rx: 5, class: "bar-ok" }));
      if (126 - okW) chart.append(svg("rect", { x: okW, y: 0, width: 126 - okW, height: 10, rx: 5, class: "bar-bad" }));
    }
    const text = total ? `${total.toLocaleString()} req · ${failed.toLocaleString()} failed, all time` : "No requests yet";
    return el("div", { class: "usage" }, chart, el("span", { class: "usage-text", text }));
  }

  // -- the key table ---------------------------------------------------------------

  function statusCell(key) {
    const names = { active: "Active", suspended: "Suspended", revoked: "Revoked", expired: "Expired" };
    if (key.status === "active" && key.revokesAt) {
      // A rotated key in its grace period: still working, but not for long.
      return [el("span", { class: "badge badge-ending", text: "Retiring" }), el("span", { class: "cell-note", text: `until ${formatDate(key.revokesAt)}` })];
    }
    return [el("span", { class: `badge badge-${key.status}`, text: names[key.status] || key.status })];
  }

  function dateCell(iso, empty) {
    if (!iso) return [el("span", { class: "muted", text: empty })];
    const date = new Date(iso);
    return [
      el("time", { datetime: iso, class: "date", text: date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) }),
      el("span", { class: "cell-note", text: date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) }),
    ];
  }

  function keyDetails(key) {
    const limits = [key.rateLimit ? `${key.rateLimit} req/min` : null, key.expiresAt ? `expires ${formatDate(key.expiresAt)}` : null];
    const allowlist = key.ipAllowlist || [];
    return [
      key.keyHint ? el("code", { class: "key-hint", text: key.keyHint }) : null,
      el("span", { class: "cell-note", text: limits.filter(Boolean).join(" · ") }),
      allowlist.length ? el("span", { class: "cell-note", text: `Only from ${allowlist.join(", ")}` }) : null,
    ];
  }

  function keyRow(key) {
    const perms = el("ul", { class: "chips", "aria-label": "Permissions" });
    for (const p of PERMISSIONS) if ((key.permissions || []).includes(p)) perms.append(el("li", { class: "chip", text: PERMISSION_LABELS[p] }));
    if (!perms.childElementCount) perms.append(el("li", { class: "chip chip-none", text: "None" }));
    const actions = el("div", { class: "row-actions" });
    if (state.eventsAvailable) {
      actions.append(el("button", { type: "button", class: "btn btn-quiet btn-small", "aria-expanded": "false", "aria-label": `Activity of ${key.name}`, text: "Activity", onclick: (e) => toggleEvents(key.id, e.currentTarget) }));
    }
    if ((key.status === "active" || key.status === "suspended") && !key.revokesAt) {
      // A retiring key has already been replaced: it can be revoked early, not rotated again.
      actions.append(el("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "rotate", "aria-label": `Rotate ${key.name}`, text: "Rotate", onclick: () => rotateKey(key.id) }));
    }
    if (key.status === "active" || key.status === "suspended") {
      actions.append(
        el("button", { type: "button", class: "btn btn-danger-quiet btn-small", "data-testid": "revoke", "aria-label": `Revoke ${key.name}`, text: "Revoke", onclick: () => revokeKey(key.id) }),
      );
    }
    return el(
      "tr",
      { class: `key-row is-${key.status}`, "data-testid": "key-row", "data-key-id": key.id },
      el("th", { scope: "row", class: "name-cell" }, el("span", { class: "key-name", text: key.name }), ...keyDetails(key)),
      el("td", { "data-label": "Status" }, el("div", { class: "stack" }, ...statusCell(key))),
      el("td", { "data-label": "Permissions" }, perms),
      el("td", { "data-label": "Created" }, el("div", { class: "stack" }, ...dateCell(key.createdAt, "—"))),
      el("td", { "data-label": "Last used" }, el("div", { class: "stack" }, ...dateCell(key.lastUsedAt, "Never"))),
      el("td", { "data-label": "Usage" }, usageChart(key.usageStats)),
      el("td", { class: "actions-cell" }, actions),
    );
  }

  const STATUS_ORDER = { active: 0, suspended: 1, expired: 2, revoked: 3 };

  function renderKeys() {
    const keys = [...state.keys.values()].sort(
      (a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || String(b.createdAt).localeCompare(String(a.createdAt)),
    );
    const body = $("keys-body");
    body.replaceChildren(...keys.map(keyRow));
    $("keys-table").hidden = keys.length === 0;
    $("keys-empty").hidden = keys.length !== 0;
    const active = keys.filter((k) => k.status === "active").length;
    $("keys-summary").textContent = keys.length ? `${active} active of ${keys.length}` : "";
  }

  // -- events ----------------------------------------------------------------------

  async function probeEvents() {
    // Unsigned and harmless: 404 means this gateway has no activity history,
    // so the page offers none instead of asking the wallet to sign in vain.
    try {
      const response = await fetch(`${API}/key_0000000000000000/events`, { credentials: "omit", cache: "no-store" });
      state.eventsAvailable = response.status !== 404 && response.status !== 405;
    } catch {
      state.eventsAvailable = false;
    }
  }

  function eventList(body) {
    const events = (body && (body.events || body.items)) || [];
    if (!events.length) return el("p", { class: "muted", text: "No activity recorded yet." });
    const list = el("ol", { class: "events" });
    for (const event of events) {
      const kind = event.type || event.event || event.action || "event";
      const who = [event.actor, event.clientIp].filter(Boolean).join(" from ");
      list.append(el("li", {}, el("span", { class: "event-kind", text: kind }), el("time", { datetime: event.at || event.timestamp || "", text: formatDate(event.at || event.timestamp) }), el("span", { class: "muted", text: who })));
    }
    return list;
  }

  async function toggleEvents(keyId, button) {
    const row = button.closest("tr");
    const open = row.nextElementSibling && row.nextElementSibling.classList.contains("events-row") ? row.nextElementSibling : null;
    if (open) {
      open.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    await run(async () => {
      const proof = await signed("list_api_key_events", { keyId });
      say("Loading activity…");
      let content;
      try {
        content = eventList(await call("GET", `${API}/${encodeURIComponent(keyId)}/events`, { headers: signedHeaders(proof) }));
      } catch (err) {
        if (!(err instanceof PortalError) || !/no longer exists/.test(err.message)) throw err;
        content = el("p", { class: "muted", text: "Activity history is not available on this gateway." });
      }
      row.after(el("tr", { class: "events-row" }, el("td", { colspan: 7 }, el("h3", { text: "Activity" }), content)));
      button.setAttribute("aria-expanded", "true");
      say("");
    });
  }

  // -- flows -------------------------------------------------------------------------

  async function run(task) {
    if (state.busy) return;
    state.busy = true;
    document.body.classList.add("busy");
    clearError();
    try {
      await task();
    } catch (err) {
      say("");
      showError(err instanceof PortalError ? err.message : `Something went wrong: ${err && err.message ? err.message : err}`);
    } finally {
      state.busy = false;
      document.body.classList.remove("busy");
    }
  }

  function connect(chain) {
    return run(async () => {
      say(`Asking your ${wallets[chain].label} wallet for its address…`);
      state.wallet = await wallets[chain].connect();
      $("address").textContent = shortAddress(state.wallet.address);
      $("address").title = state.wallet.address;
      $("chain-badge").textContent = wallets[chain].label;
      $("session").hidden = false;
      $("connect-panel").hidden = true;
      $("keys-panel").hidden = false;
      $("create-panel").hidden = false;
      await probeEvents();
      await loadKeys();
    });
  }

  async function loadKeys() {
    const proof = await signed("list_api_keys", {});
    say("Loading your keys…");
    const body = await call("GET", API, { headers: signedHeaders(proof) });
    state.keys = new Map((body.apiKeys || []).map((key) => [key.id, key]));
    renderKeys();
    say(`Loaded ${state.keys.size} key${state.keys.size === 1 ? "" : "s"}.`);
  }

  function readCreateForm() {
    const name = $("key-name").value.trim();
    if (!name) {
      $("key-name").focus();
      throw new PortalError("Give the key a name, so you can tell it apart later.");
    }
    const permissions = PERMISSIONS.filter((p) => $(`perm-${p}`).checked);
    if (!permissions.length) throw new PortalError("Choose at least one permission: a key without any can do nothing.");
    const fields = { keyName: name, permissions };
    const allowlist = $("ip-allowlist").value.split(/[\s,]+/).filter(Boolean);
    if (allowlist.length) fields.ipAllowlist = allowlist;
    const expires = $("expires-at").value;
    if (expires) {
      const end = Date.parse(`${expires}T23:59:59Z`);
      if (Number.isNaN(end) || end <= Date.now()) throw new PortalError("The expiry date must be in the future.");
      fields.expiresAt = new Date(end).toISOString().replace(".000Z", "Z");
    }
    const rate = $("rate-limit").value.trim();
    if (rate) {
      const perMinute = Number(rate);
      if (!Number.isInteger(perMinute) || perMinute < 1) throw new PortalError("Requests per minute must be a whole number of at least 1.");
      fields.rateLimit = perMinute;
    }
    return fields;
  }

  function createKey(event) {
    event.preventDefault();
    return run(async () => {
      const fields = readCreateForm();
      const proof = await signed("create_api_key", fields);
      say("Creating the key…");
      const created = await call("POST", API, { headers: { "Content-Type": "application/json" }, body: signedBody(proof) });
      addCreated(created);
      $("create-form").reset();
      revealKey(created, `“${created.name}” was created.`);
    });
  }

  function addCreated(created) {
    state.keys.set(created.keyId, {
      id: created.keyId,
      name: created.name,
      status: "active",
      permissions: created.permissions,
      rateLimit: created.rateLimit,
      createdAt: created.createdAt,
      lastUsedAt: null,
      expiresAt: created.expiresAt,
      ipAllowlist: created.ipAllowlist || [],
      keyHint: created.keyHint,
      usageStats: { successfulRequests: 0, failedRequests: 0 },
    });
    renderKeys();
  }

  function revealKey(created, lead) {
    $("new-key").textContent = created.apiKey;
    $("new-key-meta").textContent = `${lead} Key id ${created.keyId}.`;
    $("copy-key").textContent = "Copy";
    $("new-key-panel").hidden = false;
    say("New key created. Copy it now: it will not be shown again.");
    $("new-key-panel").scrollIntoView({ block: "start" });
    $("copy-key").focus();
  }

  function forgetKey() {
    $("new-key").textContent = "";
    $("new-key-meta").textContent = "";
    $("new-key-panel").hidden = true;
  }

  async function copyKey() {
    const text = $("new-key").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("copy-key").textContent = "Copied";
      say("The key is on your clipboard.");
    } catch {
      // Clipboard refused (permissions, insecure origin): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents($("new-key"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say("Your browser blocked copying: the key is selected, press Ctrl+C (or ⌘C).");
    }
  }

  function confirmAction(title, text, { danger, withGrace }) {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("grace-field").hidden = !withGrace;
    $("confirm").className = danger ? "btn btn-danger" : "btn btn-primary";
    $("confirm").textContent = danger ? "Revoke key" : "Rotate key";
    return new Promise((resolve) => {
      const finish = (ok) => {
        $("confirm").onclick = null;
        $("cancel-confirm").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(ok);
      };
      $("confirm").onclick = () => finish(true);
      $("cancel-confirm").onclick = () => finish(false);
      dialog.onclose = () => finish(false);
      dialog.showModal();
      (withGrace ? $("grace") : $("cancel-confirm")).focus();
    });
  }

  async function rotateKey(keyId) {
    const key = state.keys.get(keyId);
    const ok = await confirmAction(`Rotate “${key.name}”?`, "You get a new key with the same name, permissions and limits. Switch your bot to the new key before the old one stops.", { danger: false, withGrace: true });
    if (!ok) return;
    const graceSeconds = Number($("grace").value);
    await run(async () => {
      const proof = await signed("rotate_api_key", { keyId, graceSeconds });
      say("Rotating the key…");
      const created = await call("POST", `${API}/${encodeURIComponent(keyId)}/rotate`, { headers: { "Content-Type": "application/json" }, body: signedBody(proof) });
      const old = state.keys.get(keyId);
      if (graceSeconds === 0) old.status = "revoked";
      else old.revokesAt = new Date(Date.now() + graceSeconds * 1000).toISOString();
      addCreated(created);
      const until = graceSeconds ? `The old key keeps working until ${formatDate(old.revokesAt)}.` : "The old key no longer works.";
      revealKey(created, `“${created.name}” was rotated. ${until}`);
    });
  }

  async function revokeKey(keyId) {
    const key = state.keys.get(keyId);
    const ok = await confirmAction(`Revoke “${key.name}”?`, "Anything using this key stops working at once. This cannot be undone.", { danger: true, withGrace: false });
    if (!ok) return;
    await run(async () => {
      const proof = await signed("delete_api_key", { keyId });
      say("Revoking the key…");
      await call("DELETE", `${API}/${encodeURIComponent(keyId)}`, { headers: signedHeaders(proof) });
      key.status = "revoked";
      key.revokesAt = null;
      renderKeys();
      say(`“${key.name}” was revoked.`);
      // Its row lost the button that had focus: keep keyboard users in the list.
      $("keys-title").focus();
    });
  }

  function disconnect() {
    forgetKey();
    state.wallet = null;
    state.keys = new Map();
    renderKeys();
    $("session").hidden = true;
    $("keys-panel").hidden = true;
    $("create-panel").hidden = true;
    $("connect-panel").hidden = false;
    clearError();
    say("Disconnected.");
    $("connect-stacks").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("connect-panel").hidden = false;
    $("connect-stacks").addEventListener("click", () => connect("stacks"));
    $("connect-evm").addEventListener("click", () => connect("evm"));
    $("disconnect").addEventListener("click", disconnect);
    $("refresh").addEventListener("click", () => run(loadKeys));
    $("create-form").addEventListener("submit", createKey);
    $("copy-key").addEventListener("click", copyKey);
    $("dismiss-key").addEventListener("click", () => {
      forgetKey();
      say("The key was removed from this page.");
      $("key-name").focus();
    });
    // Leaving the page (or the back/forward cache) must not keep the key.
    window.addEventListener("pagehide", forgetKey);
  });
})();

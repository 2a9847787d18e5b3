// walletgate key portal. No framework, no build step: the page talks to the
// wallets the browser already has (Stacks wallets by WBIP004 and SIP-030, EVM
// wallets by EIP-6963 and EIP-1193) and to this gateway's own key-management
// endpoints. Nothing is kept in storage; a new key lives only in the DOM
// until it is dismissed.

import { activityRow, eventList } from "./activity.js";
import { call, signed, signedBody, signedHeaders, signingInfo } from "./api.js";
import { $, clearError, el, formatDate, say, shortAddress, showError } from "./dom.js";
import { PortalError } from "./errors.js";
import { keyExample } from "./example.js";
import { confirmAction, readCreateForm } from "./form.js";
import { STATUS_ORDER, keyRow } from "./keys.js";
import { families } from "./wallets.js";

const API = "api/v1/api-keys";
// `session`: the chosen wallet and its connected account. `loaded`: the list
// came from the gateway at least once since connecting. Revoked keys are
// listed on request, except those revoked here, which stay in view.
const state = { session: null, keys: new Map(), loaded: false, busy: false, showRevoked: false, revokedHere: new Set() };

// -- the key table ---------------------------------------------------------------

function renderKeys() {
  const all = [...state.keys.values()];
  const hidden = all.filter((k) => k.status === "revoked" && !state.revokedHere.has(k.id));
  const keys = all.filter((k) => state.showRevoked || !hidden.includes(k)).sort(
    (a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || String(b.createdAt).localeCompare(String(a.createdAt)),
  );
  const toggle = $("toggle-revoked");
  toggle.hidden = hidden.length === 0;
  toggle.setAttribute("aria-pressed", String(state.showRevoked));
  toggle.textContent = state.showRevoked ? "Hide revoked keys" : `Show revoked keys (${hidden.length})`;
  const body = $("keys-body");
  body.replaceChildren(...keys.map((key) => keyRow(key, ROW_ACTIONS)));
  $("keys-table").hidden = keys.length === 0;
  $("keys-empty").hidden = keys.length !== 0;
  $("keys-empty").textContent = state.loaded
    ? "No keys yet. Create one below to let a bot trade for this wallet."
    : "Your keys appear here once your wallet has signed the request. If it did not, press Refresh.";
  const active = all.filter((k) => k.status === "active").length;
  $("keys-summary").textContent = all.length ? `${active} active of ${all.length}` : "";
}

const ROW_ACTIONS = { activity: (id, button) => toggleActivity(id, button), rotate: (id) => rotateKey(id), revoke: (id) => revokeKey(id) };

// -- activity --------------------------------------------------------------------

async function toggleActivity(keyId, button) {
  const row = button.closest("tr");
  const open = row.nextElementSibling && row.nextElementSibling.classList.contains("events-row") ? row.nextElementSibling : null;
  if (open) {
    open.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const key = state.keys.get(keyId);
  const events = el("div", { class: "events-slot" }, el("p", { class: "muted", text: "Your wallet signs to show the key's events." }));
  row.after(activityRow(key, events));
  button.setAttribute("aria-expanded", "true");
  await run(async () => {
    const proof = await signed(state.session, "list_api_key_events", { keyId });
    say("Loading activity…");
    let content;
    try {
      content = eventList(await call("GET", `${API}/${encodeURIComponent(keyId)}/events`, { headers: signedHeaders(proof) }));
    } catch (err) {
      if (!(err instanceof PortalError) || !/no longer exists/.test(err.message)) throw err;
      content = el("p", { class: "muted", text: "Activity history is not available on this gateway." });
    }
    events.replaceChildren(content);
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

// Several wallets of a family: the owner picks one (data-testid="wallet-option").
function chooseWallet(chain, found) {
  const list = $("wallet-options");
  list.replaceChildren(
    ...found.map((wallet) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "btn btn-secondary wallet-option", "data-testid": "wallet-option", "data-wallet-name": wallet.name, onclick: () => connectWith(chain, wallet) },
          wallet.icon ? el("img", { src: wallet.icon, alt: "", class: "wallet-icon", width: 28, height: 28 }) : el("span", { class: "wallet-icon wallet-icon-none", "aria-hidden": "true" }),
          el("span", { text: wallet.name }),
        ),
      ),
    ),
  );
  $("chooser-title").textContent = `Choose your ${families[chain].label} wallet`;
  $("wallet-chooser").hidden = false;
  say(`${found.length} ${families[chain].label} wallets found: choose one.`);
  list.querySelector("button").focus();
}

function closeChooser() {
  $("wallet-chooser").hidden = true;
  $("wallet-options").replaceChildren();
}

function connect(chain) {
  return run(async () => {
    closeChooser();
    const found = await families[chain].discover();
    if (!found.length) throw new PortalError(families[chain].missing);
    if (found.length > 1) return chooseWallet(chain, found);
    await connected(chain, found[0]);
  });
}

function connectWith(chain, wallet) {
  return run(async () => {
    closeChooser();
    await connected(chain, wallet);
  });
}

async function connected(chain, wallet) {
  say(`Asking ${wallet.name} for its address…`);
  const account = await families[chain].connect(wallet, await signingInfo());
  state.session = { wallet, account };
  $("address").textContent = shortAddress(account.address);
  $("address").title = account.address;
  $("chain-badge").textContent = `${wallet.name} · ${families[chain].label}`;
  $("session").hidden = false;
  $("connect-panel").hidden = true;
  $("keys-panel").hidden = false;
  $("create-panel").hidden = false;
  renderKeys();
  await loadKeys();
}

async function loadKeys() {
  const proof = await signed(state.session, "list_api_keys", {});
  say("Loading your keys…");
  const body = await call("GET", API, { headers: signedHeaders(proof) });
  state.keys = new Map((body.apiKeys || []).map((key) => [key.id, key]));
  state.loaded = true;
  renderKeys();
  say(`Loaded ${state.keys.size} key${state.keys.size === 1 ? "" : "s"}.`);
}

function createKey(event) {
  event.preventDefault();
  return run(async () => {
    const fields = readCreateForm();
    const proof = await signed(state.session, "create_api_key", fields);
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
    usageStats: { totalRequests: 0, successfulRequests: 0, failedRequests: 0, rateLimitedRequests: 0, hourly: [] },
    clientIps: [],
  });
  renderKeys();
}

function revealKey(created, lead) {
  $("new-key").textContent = created.apiKey;
  $("key-example").replaceChildren(keyExample(created.apiKey));
  $("new-key-meta").textContent = `${lead} Key id ${created.keyId}.`;
  $("copy-key").textContent = "Copy";
  $("new-key-panel").hidden = false;
  say("New key created. Copy it now: it will not be shown again.");
  $("new-key-panel").scrollIntoView({ block: "start" });
  $("copy-key").focus();
}

function forgetKey() {
  $("new-key").textContent = "";
  $("key-example").replaceChildren();
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

async function rotateKey(keyId) {
  const key = state.keys.get(keyId);
  const ok = await confirmAction(`Rotate “${key.name}”?`, "You get a new key with the same name, permissions and limits. Switch your bot to the new key before the old one stops.", { danger: false, withGrace: true });
  if (!ok) return;
  const graceSeconds = Number($("grace").value);
  await run(async () => {
    const proof = await signed(state.session, "rotate_api_key", { keyId, graceSeconds });
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
    const proof = await signed(state.session, "delete_api_key", { keyId });
    say("Revoking the key…");
    await call("DELETE", `${API}/${encodeURIComponent(keyId)}`, { headers: signedHeaders(proof) });
    key.status = "revoked";
    key.revokesAt = null;
    state.revokedHere.add(key.id);
    renderKeys();
    say(`“${key.name}” was revoked.`);
    // Its row lost the button that had focus: keep keyboard users in the list.
    $("keys-title").focus();
  });
}

function disconnect() {
  forgetKey();
  state.session = null;
  state.keys = new Map();
  state.loaded = false;
  state.showRevoked = false;
  state.revokedHere = new Set();
  renderKeys();
  $("session").hidden = true;
  $("keys-panel").hidden = true;
  $("create-panel").hidden = true;
  $("connect-panel").hidden = false;
  clearError();
  say("Disconnected.");
  $("connect-stacks").focus();
}

// The Stacks network and EVM chain this gateway serves, for the owner to see
// before connecting (and the deployment's domain, which every message names).
async function showNetwork() {
  const info = await signingInfo();
  const parts = [];
  const chains = Array.isArray(info.chains) ? info.chains : [];
  if (chains.includes("stacks") && info.stacksNetwork) parts.push(info.stacksNetwork === "any" ? "Stacks (any network)" : `Stacks ${info.stacksNetwork}`);
  if (chains.includes("evm") && info.evmChainId) parts.push(`EVM chain ${info.evmChainId}${info.evmChainId === 1 ? " (Ethereum)" : ""}`);
  else if (chains.includes("evm") && info.stacksNetwork) parts.push("EVM (any chain)");
  $("network").textContent = parts.join(" · ");
  $("network").hidden = parts.length === 0;
  if (info.domain) $("network").title = `Signed messages name ${info.domain}`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("connect-panel").hidden = false;
  showNetwork();
  $("cancel-chooser").addEventListener("click", () => {
    closeChooser();
    say("");
    $("connect-stacks").focus();
  });
  $("toggle-revoked").addEventListener("click", () => {
    state.showRevoked = !state.showRevoked;
    renderKeys();
  });
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

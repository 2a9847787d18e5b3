// The key table: one row per key, built as nodes (names come from users).

import { el, formatDate } from "./dom.js";
import { usageChart } from "./usage.js";

const PERMISSIONS = ["create", "execute", "cancel"];
const PERMISSION_LABELS = { create: "Create", execute: "Execute", cancel: "Cancel" };

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

/** A key's row; `on` holds the row's actions (activity, rotate, revoke). */
export function keyRow(key, on) {
  const perms = el("ul", { class: "chips", "aria-label": "Permissions" });
  for (const p of PERMISSIONS) if ((key.permissions || []).includes(p)) perms.append(el("li", { class: "chip", text: PERMISSION_LABELS[p] }));
  if (!perms.childElementCount) perms.append(el("li", { class: "chip chip-none", text: "None" }));
  const actions = el("div", { class: "row-actions" });
  actions.append(el("button", { type: "button", class: "btn btn-quiet btn-small", "data-testid": "activity", "aria-expanded": "false", "aria-label": `Activity of ${key.name}`, text: "Activity", onclick: (e) => on.activity(key.id, e.currentTarget) }));
  if ((key.status === "active" || key.status === "suspended") && !key.revokesAt) {
    // A retiring key has already been replaced: it can be revoked early, not rotated again.
    actions.append(el("button", { type: "button", class: "btn btn-secondary btn-small", "data-testid": "rotate", "aria-label": `Rotate ${key.name}`, text: "Rotate", onclick: () => on.rotate(key.id) }));
  }
  if (key.status === "active" || key.status === "suspended") {
    actions.append(
      el("button", { type: "button", class: "btn btn-danger-quiet btn-small", "data-testid": "revoke", "aria-label": `Revoke ${key.name}`, text: "Revoke", onclick: () => on.revoke(key.id) }),
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

export const STATUS_ORDER = { active: 0, suspended: 1, expired: 2, revoked: 3 };

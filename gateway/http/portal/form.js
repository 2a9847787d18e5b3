// The create form, read and checked before the wallet is asked to sign.

import { $ } from "./dom.js";
import { PortalError } from "./errors.js";

const PERMISSIONS = ["create", "execute", "cancel"];

export function readCreateForm() {
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

// The confirmation dialog of rotate and revoke; resolves true when confirmed.
export function confirmAction(title, text, { danger, withGrace }) {
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

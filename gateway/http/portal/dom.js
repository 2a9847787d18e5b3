// DOM helpers. No HTML strings anywhere: key names and messages come from
// users and gateways, so everything is built as nodes and text.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
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

export const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  box.focus();
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

export function say(message) {
  $("status").textContent = message;
}

export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function shortAddress(address) {
  return address.length > 14 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

// Wallet icons are data: URLs by WBIP004 and EIP-6963; anything else (a URL
// elsewhere, which the CSP would block anyway) is not shown.
const ICON = /^data:image\/(?:png|svg\+xml|webp|jpeg|gif)[;,]/;
export function iconOf(icon) {
  return typeof icon === "string" && ICON.test(icon) && icon.length < 200000 ? icon : null;
}

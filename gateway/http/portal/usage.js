// Usage of a key as an inline SVG: the last 7 days from `usageStats.hourly`
// when the gateway keeps hourly counts, else the lifetime counters.

import { el, svg } from "./dom.js";

const DAY_MS = 86400000;

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

export function usageChart(stats) {
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

// Usage of a key as an inline SVG: the last 7 days from `usageStats.hourly`
// (lifetime counters for a gateway that keeps no hourly history).

import { el, svg } from "./dom.js";

const DAY_MS = 86400000;

const FAILED_FIELDS = ["clientError", "rateLimited", "serverError"];

function counts(entry) {
  const n = (name) => (typeof entry[name] === "number" ? entry[name] : 0);
  return { ok: n("success"), failed: FAILED_FIELDS.reduce((sum, name) => sum + n(name), 0) };
}

// usageStats.hourly: [{hour: ISO 8601, success, clientError, rateLimited,
// serverError}], summed into the last 7 calendar days.
function dailyUsage(hourly, now) {
  const rows = hourly.map((entry) => [Date.parse(entry.hour), entry]);
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  const days = Array.from({ length: 7 }, (_, i) => ({ start: today.getTime() - (6 - i) * DAY_MS, ok: 0, failed: 0 }));
  for (const [at, entry] of rows) {
    if (Number.isNaN(at)) continue;
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
  if (Array.isArray(usage.hourly)) return weekChart(dailyUsage(usage.hourly, Date.now()));
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

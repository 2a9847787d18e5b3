// Usage of a key as inline SVG, drawn here (no chart library): a small
// 7-day sparkline in the key's row, and in its activity the hours of the last
// 7 days split by outcome, with axes and values. From `usageStats.hourly`
// (lifetime counters for a gateway that keeps no hourly history).

import { el, svg } from "./dom.js";

const HOUR_MS = 3600000;
const DAY_MS = 24 * HOUR_MS;
const HOURS = 7 * 24;

export const OUTCOMES = [
  { field: "success", label: "Success", css: "o-success" },
  { field: "clientError", label: "Client error", css: "o-client" },
  { field: "rateLimited", label: "Rate limited", css: "o-limited" },
  { field: "serverError", label: "Server error", css: "o-server" },
];
const n = (entry, field) => (typeof entry[field] === "number" ? entry[field] : 0);
const total = (entry) => OUTCOMES.reduce((sum, o) => sum + n(entry, o.field), 0);

// usageStats.hourly: [{hour: ISO 8601, success, clientError, rateLimited,
// serverError}], summed into the last 7 calendar days.
function dailyUsage(hourly, now) {
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  const days = Array.from({ length: 7 }, (_, i) => ({ start: today.getTime() - (6 - i) * DAY_MS, ok: 0, failed: 0 }));
  for (const entry of hourly) {
    const at = Date.parse(entry.hour);
    const day = days.find((d) => at >= d.start && at < d.start + DAY_MS);
    if (!day) continue;
    day.ok += n(entry, "success");
    day.failed += total(entry) - n(entry, "success");
  }
  return days;
}

export function usageChart(stats) {
  const usage = stats || {};
  if (Array.isArray(usage.hourly)) return weekChart(dailyUsage(usage.hourly, Date.now()));
  return lifetimeChart(usage.successfulRequests || 0, usage.failedRequests || 0);
}

function weekChart(days) {
  const sum = days.reduce((s, d) => s + d.ok + d.failed, 0);
  const failed = days.reduce((s, d) => s + d.failed, 0);
  const peak = Math.max(1, ...days.map((d) => d.ok + d.failed));
  const label = `${sum.toLocaleString()} requests in the last 7 days, ${failed.toLocaleString()} failed`;
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
  return el("div", { class: "usage" }, chart, el("span", { class: "usage-text", text: `${sum.toLocaleString()} req · ${failed.toLocaleString()} failed, 7 days` }));
}

function lifetimeChart(ok, failed) {
  const sum = ok + failed;
  const label = sum ? `${sum.toLocaleString()} requests in total, ${failed.toLocaleString()} failed` : "No requests yet";
  const chart = svg("svg", { viewBox: "0 0 126 10", width: 126, height: 10, role: "img", "aria-label": label, class: "meter" });
  chart.append(svg("title", {}, label));
  chart.append(svg("rect", { x: 0, y: 0, width: 126, height: 10, rx: 5, class: "bar-base" }));
  if (sum) {
    const okW = Math.round((ok / sum) * 126);
    if (okW) chart.append(svg("rect", { x: 0, y: 0, width: okW, height: 10, rx: 5, class: "bar-ok" }));
    if (126 - okW) chart.append(svg("rect", { x: okW, y: 0, width: 126 - okW, height: 10, rx: 5, class: "bar-bad" }));
  }
  const text = sum ? `${sum.toLocaleString()} req · ${failed.toLocaleString()} failed, all time` : "No requests yet";
  return el("div", { class: "usage" }, chart, el("span", { class: "usage-text", text }));
}

// -- the hourly chart in a key's activity ------------------------------------------

const W = 720;
const H = 220;
const PAD = { left: 44, right: 8, top: 24, bottom: 34 };

/** A step that gives 2 to 5 gridlines with round values. */
function niceStep(peak) {
  const raw = peak / 4;
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power * 10;
  return Math.max(1, step);
}

function hourSlots(hourly, now) {
  const end = new Date(now);
  end.setMinutes(0, 0, 0);
  const first = end.getTime() - (HOURS - 1) * HOUR_MS;
  const slots = Array.from({ length: HOURS }, (_, i) => ({ start: first + i * HOUR_MS, counts: {} }));
  for (const entry of hourly) {
    const i = Math.floor((Date.parse(entry.hour) - first) / HOUR_MS);
    if (i < 0 || i >= HOURS) continue;
    for (const o of OUTCOMES) slots[i].counts[o.field] = (slots[i].counts[o.field] || 0) + n(entry, o.field);
  }
  return slots;
}

export function hourlyChart(stats, now = Date.now()) {
  const hourly = (stats && Array.isArray(stats.hourly) && stats.hourly) || [];
  const slots = hourSlots(hourly, now);
  const peak = Math.max(0, ...slots.map((s) => total(s.counts)));
  const step = niceStep(peak);
  const top = Math.max(step, Math.ceil(peak / step) * step);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (value) => PAD.top + plotH - (value / top) * plotH;
  const barW = plotW / HOURS;
  const sums = Object.fromEntries(OUTCOMES.map((o) => [o.field, slots.reduce((s, slot) => s + (slot.counts[o.field] || 0), 0)]));
  const label = `Requests per hour over the last 7 days: ${OUTCOMES.map((o) => `${sums[o.field]} ${o.label.toLowerCase()}`).join(", ")}`;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "hourly", preserveAspectRatio: "xMidYMid meet" });
  chart.append(svg("title", {}, label));
  // y axis: gridlines with their values.
  for (let v = 0; v <= top; v += step) {
    chart.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: v ? "grid" : "axis" }));
    chart.append(svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)));
  }
  chart.append(svg("text", { x: PAD.left - 6, y: 11, "text-anchor": "end", class: "tick" }, "req/h"));
  // x axis: a label at each local midnight.
  slots.forEach((slot, i) => {
    if (new Date(slot.start).getHours() !== 0) return;
    const x = PAD.left + i * barW;
    chart.append(svg("line", { x1: x, x2: x, y1: PAD.top, y2: PAD.top + plotH + 4, class: "grid" }));
    const day = new Date(slot.start).toLocaleDateString(undefined, { weekday: "short", day: "numeric" });
    chart.append(svg("text", { x: x + 3, y: H - PAD.bottom + 18, class: "tick" }, day));
  });
  slots.forEach((slot, i) => {
    const count = total(slot.counts);
    if (!count) return;
    const x = PAD.left + i * barW;
    const group = svg("g", {});
    const when = new Date(slot.start).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
    group.append(svg("title", {}, `${when}: ${OUTCOMES.map((o) => `${slot.counts[o.field] || 0} ${o.label.toLowerCase()}`).join(", ")}`));
    let base = 0;
    for (const o of OUTCOMES) {
      const value = slot.counts[o.field] || 0;
      if (!value) continue;
      group.append(svg("rect", { x: x + 0.5, y: y(base + value), width: Math.max(1, barW - 1), height: y(base) - y(base + value), class: o.css, "data-outcome": o.field }));
      base += value;
    }
    chart.append(group);
  });
  const legend = el("ul", { class: "legend", "aria-label": "Requests in the last 7 days by outcome" });
  for (const o of OUTCOMES) {
    legend.append(el("li", { "data-outcome": o.field }, el("span", { class: `swatch ${o.css}`, "aria-hidden": "true" }), el("span", { text: `${o.label} ` }), el("strong", { text: sums[o.field].toLocaleString() })));
  }
  // On a phone the chart keeps a readable size and scrolls sideways on its own.
  const scroller = el("div", { class: "chart-scroll" }, chart);
  return el("figure", { class: "hourly-figure" }, scroller, el("figcaption", {}, legend));
}

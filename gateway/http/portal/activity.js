// What a key is doing: its hours by outcome, the addresses it was used from
// (new ones marked) and its audit events.

import { el, formatDate } from "./dom.js";
import { hourlyChart } from "./usage.js";

const NEW_FOR_MS = 7 * 24 * 3600000;
const EVENT_NAMES = {
  created: "Created",
  generated: "Generated",
  rotated: "Rotated",
  revoked: "Revoked",
  suspended: "Suspended",
  resumed: "Resumed",
  expired: "Expired",
  limits_changed: "Limits changed",
  new_ip: "New address",
};

function counters(stats) {
  const s = stats || {};
  const items = [
    ["Requests", s.totalRequests],
    ["Succeeded", s.successfulRequests],
    ["Failed", s.failedRequests],
    ["Rate limited", s.rateLimitedRequests],
  ].filter(([, value]) => typeof value === "number");
  return el("dl", { class: "counters" }, ...items.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value.toLocaleString() })]));
}

/** The key's client addresses, most recent first; new in the last 7 days marked. */
export function clientList(clientIps, now = Date.now()) {
  const addresses = Array.isArray(clientIps) ? clientIps : [];
  if (!addresses.length) return el("p", { class: "muted", text: "Not used yet." });
  const list = el("ul", { class: "clients" });
  for (const client of addresses) {
    const isNew = now - Date.parse(client.firstSeen) < NEW_FOR_MS;
    list.append(
      el(
        "li",
        { "data-testid": "client-ip", "data-ip": client.ip, "data-new": isNew ? "true" : "false", class: isNew ? "is-new" : "" },
        el("code", { class: "ip", text: client.ip }),
        isNew ? el("span", { class: "badge badge-new", text: "New", title: `First used from here on ${formatDate(client.firstSeen)}` }) : null,
        el("span", { class: "cell-note", text: `${Number(client.requests).toLocaleString()} request${client.requests === 1 ? "" : "s"} · first ${formatDate(client.firstSeen)} · last ${formatDate(client.lastSeen)}` }),
      ),
    );
  }
  return list;
}

export function eventList(body) {
  const events = (body && body.events) || [];
  if (!events.length) return el("p", { class: "muted", text: "No activity recorded yet." });
  const list = el("ol", { class: "events" });
  for (const event of events) {
    const who = [event.actor, event.clientIp].filter(Boolean).join(" from ");
    list.append(
      el(
        "li",
        { "data-event": event.event, class: event.event === "new_ip" ? "is-new" : "" },
        el("span", { class: "event-kind", text: EVENT_NAMES[event.event] || event.event }),
        el("time", { datetime: event.at, text: formatDate(event.at) }),
        el("span", { class: "muted", text: who }),
      ),
    );
  }
  return list;
}

/** The activity row under a key: chart, counters and addresses now, events once signed for. */
export function activityRow(key, events) {
  return el(
    "tr",
    { class: "events-row", "data-activity-of": key.id },
    el(
      "td",
      { colspan: 7 },
      el(
        "div",
        { class: "activity" },
        el("section", { class: "activity-usage" }, el("h3", { text: "Requests per hour, last 7 days" }), hourlyChart(key.usageStats), counters(key.usageStats)),
        el("section", { class: "activity-clients" }, el("h3", { text: "Used from" }), clientList(key.clientIps)),
        el("section", { class: "activity-events" }, el("h3", { text: "Events" }), events),
      ),
    ),
  );
}

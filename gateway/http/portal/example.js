// A ready-to-paste first request with the new key, in the languages bots are
// written in, against the address this page was served from (the gateway's
// public URL, path prefix included). Shown with the key and gone with it.

import { el } from "./dom.js";

export function gatewayUrl() {
  // The page is <gateway>/portal: its directory is the gateway's root.
  return new URL(".", document.baseURI).href.replace(/\/$/, "");
}

function snippets(apiKey, base) {
  const url = `${base}/api/v1/orders`;
  return {
    curl: `curl -H "X-API-Key: ${apiKey}" \\\n  ${url}`,
    JavaScript: [
      `const response = await fetch("${url}", {`,
      `  headers: { "X-API-Key": "${apiKey}" },`,
      "});",
      "console.log(response.status, await response.json());",
    ].join("\n"),
    Python: [
      "import json",
      "import urllib.request",
      "",
      `request = urllib.request.Request("${url}", headers={"X-API-Key": "${apiKey}"})`,
      "with urllib.request.urlopen(request) as response:",
      "    print(response.status, json.load(response))",
    ].join("\n"),
  };
}

/** Tabs (curl, JavaScript, Python) over one code block. */
export function keyExample(apiKey) {
  const code = snippets(apiKey, gatewayUrl());
  const block = el("code", { "data-testid": "key-example" });
  const pre = el("pre", { class: "example-code", tabindex: "0", "aria-label": "Example request" }, block);
  const tabs = el("div", { class: "tabs", role: "tablist", "aria-label": "Language" });
  const show = (name) => {
    block.textContent = code[name];
    block.dataset.language = name;
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.language === name));
  };
  for (const name of Object.keys(code)) {
    tabs.append(el("button", { type: "button", role: "tab", class: "tab", "data-language": name, text: name, onclick: () => show(name) }));
  }
  show("curl");
  return el("div", { class: "example" }, el("p", { class: "example-lead", text: "Try it: list your orders with the new key." }), tabs, pre);
}

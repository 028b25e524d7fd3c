// meetinghooks dashboard: confirmations for risky forms and the live tail. Values are put
// into the page with textContent only, so nothing a receiver or a signal sent is markup.
"use strict";

document.addEventListener("submit", (e) => {
  const question = e.target.dataset.confirm;
  if (question && !window.confirm(question)) e.preventDefault();
});

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function linkCell(row, text, href) {
  const td = cell(row, "");
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.appendChild(a);
}

function prepend(tableId, row) {
  const body = document.querySelector("#" + tableId + " tbody");
  row.className = "new";
  body.insertBefore(row, body.firstChild);
  while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
}

const live = document.getElementById("live");
if (live) {
  const status = document.getElementById("live-status");
  const source = new EventSource(live.dataset.stream);
  const show = (text, kind) => { status.textContent = text; status.className = "badge " + kind; };
  source.addEventListener("ready", () => show("live", "succeeded"));
  source.addEventListener("error", () => show("reconnecting…", "pending"));
  source.addEventListener("event", (message) => {
    const e = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.dataset.event = e.type;
    cell(row, e.at.slice(11, 19));
    linkCell(row, e.meeting, "/ui/meetings/" + encodeURIComponent(e.meeting));
    cell(row, String(e.sequence), "num");
    cell(row, e.type);
    prepend("live-events", row);
  });
  source.addEventListener("delivery", (message) => {
    const d = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.dataset.ok = String(d.ok);
    cell(row, d.at.slice(11, 19));
    linkCell(row, d.type, "/ui/messages/" + encodeURIComponent(d.message));
    linkCell(row, d.endpoint, "/ui/endpoints/" + encodeURIComponent(d.endpoint));
    const result = cell(row, "");
    const badge = document.createElement("span");
    badge.className = "badge " + (d.ok ? "succeeded" : "failed");
    badge.textContent = d.result;
    result.appendChild(badge);
    cell(row, d.durationMs + " ms", "num");
    prepend("live-deliveries", row);
  });
}

// The notes page: adds, edits and deletes notes through the API, and shows every change
// pushed over the WebSocket, in place.
"use strict";

const list = document.getElementById("notes");
const form = document.getElementById("new-note");
const editorTemplate = document.getElementById("editor");
const statusLine = document.getElementById("status");
const api = form.dataset.api;
// Writes carry the CSRF token of the page's session, when a form on the page holds one.
const csrfToken = document.querySelector("input[name=csrf_token]")?.value;

const SHOWN = 100;  // the page lists the newest notes, as many as pages.py renders
const RETRY_FIRST = 500, RETRY_MAX = 30000;  // milliseconds between reconnection attempts
const seen = new Set();  // ids of the events applied: one delivered twice is applied once
let failures = 0;  // consecutive connections that ended: the wait before the next one doubles
// The Idempotency-Key of the new note until the server has answered: sent again with the same
// note after a failure, so that a note the server did write is not written twice.
let pendingKey = null;

// Showing notes

// A timestamp in the reader's own language and time zone; the exact instant on hover.
function localize(time) {
  time.textContent = new Date(time.dateTime).toLocaleString();
  time.title = time.dateTime;
}

function timestamp(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  localize(time);
  return time;
}

function button(action, label) {
  const element = document.createElement("button");
  element.type = "button";
  element.dataset.action = action;
  element.textContent = label;
  return element;
}

// The same markup as templates/index.html renders.
function render(note) {
  const item = document.createElement("li");
  item.dataset.id = note.id;
  const title = document.createElement("strong");
  title.textContent = note.title;
  const body = document.createElement("p");
  body.className = "body";
  body.textContent = note.body;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.append("Created ", timestamp(note.created_at));
  if (note.updated_at !== note.created_at) meta.append(", updated ", timestamp(note.updated_at));
  const actions = document.createElement("p");
  actions.className = "actions";
  actions.append(button("edit", "Edit"), " ", button("delete", "Delete"));
  item.append(title, body, meta, actions);
  return item;
}

function itemOf(id) {
  return list.querySelector(`li[data-id="${id}"]`);
}

// A note in its place: changed where it stands, or added in id order (newest first).
// A note open in the editor keeps the editor, and what was typed in it.
function show(note) {
  const fresh = render(note);
  const existing = itemOf(note.id);
  if (!existing) {
    const older = [...list.children].find((item) => Number(item.dataset.id) < note.id);
    list.insertBefore(fresh, older ?? null);
    return;
  }
  const editor = existing.querySelector("form.editor");
  if (!editor) {
    existing.replaceWith(fresh);
    return;
  }
  [...existing.children].filter((child) => child !== editor).forEach((child) => child.remove());
  existing.prepend(...fresh.children);
  existing.className = fresh.className;
  existing.classList.add("editing");
}

// Talking to the API

// The answer's JSON ({} for 204). After showing the problem in `where`: null when the server
// refused, undefined when it is unknown whether it did the work (no answer, or a 503).
async function send(where, url, method, body, headers = {}) {
  let response;
  const sent = { ...(csrfToken && { "X-CSRF-Token": csrfToken }), ...headers };
  try {
    response = await fetch(url, {
      method,
      headers: body ? { "Content-Type": "application/json", ...sent } : sent,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    showProblem(where, { detail: "The server could not be reached; try again." });
    return undefined;
  }
  if (response.ok) {
    clearProblem(where);
    return response.status === 204 ? {} : response.json();
  }
  let problem;
  try {
    problem = await response.json();
  } catch {
    problem = { detail: `The server answered ${response.status}.` };
  }
  showProblem(where, problem, response.status);
  return response.status === 503 ? undefined : null;
}

// Problem details next to the form (or note) they are about: each invalid field named and marked.
function showProblem(where, problem, status) {
  clearProblem(where);
  const line = where.querySelector(".form-error") ?? where.appendChild(errorLine());
  const fields = problem.errors || [];
  for (const error of fields) {
    where.querySelector(`[name="${error.field}"]`)?.setAttribute("aria-invalid", "true");
  }
  const named = fields.map((error) => `${error.field}: ${error.message}`).join("; ");
  line.textContent = named || problem.detail;
  line.hidden = false;
  where.querySelector("[aria-invalid]")?.focus();
  if (status === 404 && where.matches("li")) where.remove();  // gone already: nothing to change
}

function clearProblem(where) {
  where.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
  const line = where.querySelector(".form-error");
  if (line) line.hidden = true;
}

function errorLine() {
  const line = document.createElement("p");
  line.className = "form-error";
  line.setAttribute("role", "alert");
  return line;
}

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const data = new FormData(form);
  pendingKey ??= crypto.randomUUID?.();  // only in a secure context (https, or localhost)
  const key = pendingKey ? { "Idempotency-Key": pendingKey } : {};
  const fields = { title: data.get("title"), body: data.get("body") };
  const note = await send(form, api, "POST", fields, key);
  if (note !== undefined) pendingKey = null;  // the server has answered: the next note is new
  if (!note) return;
  form.reset();
  show(note);  // the event will say it again, and changes nothing then
});
form.addEventListener("input", () => { pendingKey = null; });  // another note: another key

// Editing and deleting in place

function startEditing(item) {
  if (item.querySelector("form.editor")) return;
  const editor = editorTemplate.content.firstElementChild.cloneNode(true);
  editor.elements.title.value = item.querySelector("strong").textContent;
  editor.elements.body.value = item.querySelector(".body").textContent;
  item.append(editor);
  item.classList.add("editing");
  editor.elements.title.focus();
}

function stopEditing(item) {
  item.querySelector("form.editor")?.remove();
  item.classList.remove("editing");
}

list.addEventListener("click", async (click) => {
  const action = click.target.closest("button[data-action]")?.dataset.action;
  const item = click.target.closest("li");
  if (!action || !item) return;
  if (action === "edit") startEditing(item);
  if (action === "cancel") stopEditing(item);
  if (action === "delete" && await send(item, `${api}/${item.dataset.id}`, "DELETE")) item.remove();
});

list.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const editor = submit.target;
  const item = editor.closest("li");
  const data = new FormData(editor);
  const changes = { title: data.get("title"), body: data.get("body") };
  const note = await send(editor, `${api}/${item.dataset.id}`, "PATCH", changes);
  if (!note) return;
  stopEditing(item);
  show(note);
});

// Live updates

function firstTime(event) {
  if (seen.has(event.id)) return false;
  seen.add(event.id);
  if (seen.size > 1000) seen.delete(seen.values().next().value);  // oldest first
  return true;
}

function apply(event) {
  if (event.type === "note.deleted") itemOf(event.note.id)?.remove();
  else show(event.note);
}

async function fetchNotes(query) {
  const url = new URL(api, window.location.href);
  url.search = new URLSearchParams({ limit: SHOWN, ...query });
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

// Whatever changed while the socket was down: the newest notes, listed again from the API.
async function refresh() {
  let page = await fetchNotes({ total: true });
  if (page.total > SHOWN) page = await fetchNotes({ offset: page.total - SHOWN });
  const editing = [...list.querySelectorAll("li.editing")].map((item) => item.dataset.id);
  const editors = editing.map((id) => itemOf(id).querySelector("form.editor"));
  list.replaceChildren(...page.items.reverse().map(render));
  editing.forEach((id, index) => {  // what was being typed stays, on the notes still there
    const item = itemOf(id);
    item?.append(editors[index]);
    item?.classList.add("editing");
  });
}

function connect() {
  const url = new URL(statusLine.dataset.socket, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // The page's own cookie goes with the handshake (with accounts, it says who is signed in).
  // A client without it would offer a ticket from /api/socket-tokens as subprotocols,
  // new WebSocket(url, ["ticket", ticket]), never in the URL, which servers log.
  const socket = new WebSocket(url);
  let waiting = [];  // events that arrive while the list is fetched, applied after it

  socket.addEventListener("open", async () => {
    try {
      await refresh();
    } catch {
      socket.close();  // try again later, as if the connection had dropped
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;  // it dropped meanwhile: the next one counts
    waiting.forEach(apply);
    waiting = null;
    failures = 0;
    statusLine.textContent = "Live";
    statusLine.className = "live";
  });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (!event.type.startsWith("note.") || !firstTime(event)) return;
    if (waiting) waiting.push(event); else apply(event);
  });
  socket.addEventListener("close", () => {
    statusLine.textContent = "Reconnecting…";
    statusLine.className = "reconnecting";
    // Exponential backoff with jitter, so clients of a restarted server do not return at once.
    const ceiling = Math.min(RETRY_MAX, RETRY_FIRST * 2 ** failures);
    failures += 1;
    setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
  });
}

list.querySelectorAll("time").forEach(localize);
connect();

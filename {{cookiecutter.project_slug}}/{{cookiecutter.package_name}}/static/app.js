// The notes page: posts new notes to the API and shows every change pushed over the WebSocket.
"use strict";

const list = document.getElementById("notes");
const form = document.getElementById("new-note");
const formError = document.getElementById("form-error");
const statusLine = document.getElementById("status");

function render(note) {
  const item = document.createElement("li");
  item.dataset.id = note.id;
  const title = document.createElement("strong");
  title.textContent = note.title;
  const body = document.createElement("p");
  body.textContent = note.body;
  item.append(title, body);
  return item;
}

function apply(event) {
  const existing = list.querySelector(`li[data-id="${event.note.id}"]`);
  if (event.type === "note.deleted") {
    existing?.remove();
  } else if (existing) {
    existing.replaceWith(render(event.note));
  } else {
    list.prepend(render(event.note));
  }
}

function connect() {
  const url = new URL(statusLine.dataset.socket, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.addEventListener("open", () => { statusLine.textContent = "Live"; });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type.startsWith("note.")) apply(event);
  });
  socket.addEventListener("close", () => {
    statusLine.textContent = "Disconnected; reconnecting…";
    setTimeout(connect, 2000);
  });
}

form.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const data = new FormData(form);
  const response = await fetch(form.dataset.api, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title: data.get("title"), body: data.get("body") }),
  });
  if (response.ok) {
    form.reset();
    formError.hidden = true;
  } else {
    const problem = await response.json();
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    formError.textContent = fields || problem.detail;
    formError.hidden = false;
  }
});

connect();

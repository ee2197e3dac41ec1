// The Cinema dashboard. Every value from the server is rendered with textContent, never as HTML.
"use strict";

const rows = new Map();      // movieId -> MovieView row
const seats = new Map();     // movieId -> {seats, reservedSeats} from the movie service
const maxEvents = 50;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function seatText(movieId) {
  const s = seats.get(movieId);
  if (!s) return "–";
  return s.seats === null || s.seats === undefined ? `${s.reservedSeats ?? 0} / ∞` : `${s.reservedSeats ?? 0} / ${s.seats}`;
}

function renderRow(view, changed) {
  const tbody = document.querySelector("#movies tbody");
  let tr = tbody.querySelector(`tr[data-movie-id="${Number(view.movieId)}"]`);
  const cells = [
    view.movieId, view.desc ?? "", seatText(view.movieId), view.movieStatus ?? "",
    view.rsvId == null ? "" : `#${view.rsvId} ${view.rsvStatus ?? ""}`,
    view.payId == null ? "" : `#${view.payId} ${view.payStatus ?? ""}`,
    view.reviewCnt ?? 0,
  ];
  const fresh = el("tr");
  fresh.dataset.movieId = String(Number(view.movieId));
  fresh.dataset.rsvStatus = view.rsvStatus ?? "";
  cells.forEach((value, index) => fresh.appendChild(el("td", value, index === 1 ? "desc" : undefined)));
  if (changed) fresh.classList.add("changed");
  if (tr) tr.replaceWith(fresh); else insertSorted(tbody, fresh, view.movieId);
}

function insertSorted(tbody, tr, movieId) {
  const after = [...tbody.children].find((other) => Number(other.dataset.movieId) > movieId);
  tbody.insertBefore(tr, after ?? null);
}

function removeRow(movieId) {
  rows.delete(movieId);
  document.querySelector(`#movies tr[data-movie-id="${Number(movieId)}"]`)?.remove();
}

function addEvent(entry, prepend) {
  const tbody = document.querySelector("#events tbody");
  const tr = el("tr");
  [entry.time, entry.type, entry.key, entry.traceId].forEach((value) => tr.appendChild(el("td", value ?? "")));
  if (prepend) tbody.insertBefore(tr, tbody.firstChild); else tbody.appendChild(tr);
  while (tbody.children.length > maxEvents) tbody.lastChild.remove();
}

async function refreshSeats() {
  try {
    const response = await fetch("/movies?size=1000", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    for (const movie of body?._embedded?.movies ?? []) {
      seats.set(Number(movie.movieId ?? movie.id), { seats: movie.seats, reservedSeats: movie.reservedSeats });
    }
    rows.forEach((view) => renderRow(view, false));
  } catch (error) { /* the movie service may be down; the seats column shows what it knew */ }
}

function connect() {
  const badge = document.getElementById("connection");
  // EventSource reconnects by itself and sends Last-Event-ID, so the server replays or snapshots what was missed.
  const source = new EventSource("/dashboard/events");
  source.onopen = () => { badge.textContent = "live"; badge.dataset.state = "live"; };
  source.onerror = () => { badge.textContent = "reconnecting…"; badge.dataset.state = "down"; };
  source.addEventListener("snapshot", (message) => {
    const snapshot = JSON.parse(message.data);
    rows.clear();
    document.querySelector("#movies tbody").replaceChildren();
    for (const view of snapshot.movies) { rows.set(view.movieId, view); renderRow(view, false); }
    document.querySelector("#events tbody").replaceChildren();
    for (const entry of snapshot.events) addEvent(entry, true);
    refreshSeats();
  });
  source.addEventListener("movieview", (message) => {
    const change = JSON.parse(message.data);
    if (change.row === null) removeRow(change.movieId);
    else { rows.set(change.movieId, change.row); renderRow(change.row, true); }
    refreshSeats();
  });
  source.addEventListener("cinema", (message) => addEvent(JSON.parse(message.data), true));
}

async function refreshHealth() {
  const list = document.getElementById("health-list");
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 3000);
    const response = await fetch("/health/services", { signal: controller.signal });
    clearTimeout(timer);
    const body = await response.json();
    const counts = new Map();
    for (const service of body.services ?? []) counts.set(service.name, (counts.get(service.name) ?? 0) + 1);
    list.replaceChildren();
    for (const service of body.services ?? []) {
      // A replica is named by its address when its service has several.
      const name = counts.get(service.name) > 1 ? `${service.name} ${service.instance}` : service.name;
      const item = el("li", `${name}: ${service.status}`);
      if (service.detail) item.title = service.detail;
      item.dataset.status = service.status;
      list.appendChild(item);
    }
  } catch (error) {
    list.replaceChildren(el("li", "gateway unreachable"));
    list.firstChild.dataset.status = "unreachable";
  }
}

function fieldsOf(form) {
  const body = {};
  const fixed = form.dataset.fixed ? [form.dataset.fixed.split("=")] : [];
  for (const [name, value] of [...new FormData(form).entries(), ...fixed]) {
    if (form.dataset.path.includes(`{${name}}`)) continue;
    if (value === "" && form.dataset.method !== "POST") continue;
    if (name === "seats") body.seats = value === "" ? null : value;
    else if (value !== "") body[name] = value;
  }
  return body;
}

async function submit(form) {
  const result = document.getElementById("result");
  const data = new FormData(form);
  const path = form.dataset.path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(data.get(name) ?? "")));
  const method = form.dataset.method;
  const options = { method, headers: { Accept: "application/json" } };
  if (method !== "DELETE") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(fieldsOf(form));
  }
  try {
    const response = await fetch(path, options);
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (error) { body = null; }
    if (response.ok) {
      result.className = "ok";
      const id = body?.rsvId ?? body?.movieId ?? body?.reviewId ?? "";
      result.textContent = `${method} ${path}: ${response.status}${id !== "" ? ` (id ${id})` : ""}`;
    } else {
      result.className = "error";
      const field = body?.field ? ` [${body.field}]` : "";
      result.textContent = `${response.status}: ${body?.message ?? text ?? response.statusText}${field}`;
    }
  } catch (error) {
    result.className = "error";
    result.textContent = `request failed: ${error}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
  }
  connect();
  refreshHealth();
  // Readiness is not an event of the read model: it is asked again every 10 s, each probe bounded server-side.
  setInterval(refreshHealth, 10000);
});

// The benchmarked routes as a Node developer would write them: Fastify 5 with JSON-schema
// validation and serialization, on better-sqlite3 (WAL, prepared statements, synchronous) for
// SQLite and on node-postgres' Pool (max DATABASE_POOL_MAX, default 10) for PostgreSQL, against
// the rendered project's database (DATABASE_URL). The same answers as the project: a note,
// a page with one row more fetched than asked and a count only with total=true, a create that
// reads its row back in one INSERT ... RETURNING. Served by benchmarks/routes.py.
"use strict";
const fastify = require("fastify")({ logger: false });

const NOTE = "id, title, body, created_at, updated_at";
const MAX_ID = 2 ** 31 - 1;
// sqlite+aiosqlite:///path or postgresql+asyncpg://user@host:port/name, as the project reads it.
const [scheme, rest] = process.env.DATABASE_URL.split("://");

function sqlite(path) {
  const Database = require("better-sqlite3");
  const db = new Database(path, { timeout: 10000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const one = db.prepare(`SELECT ${NOTE} FROM notes WHERE id = ?`);
  const page = db.prepare(`SELECT ${NOTE} FROM notes ORDER BY id LIMIT ? OFFSET ?`);
  const count = db.prepare("SELECT count(*) AS n FROM notes").pluck();
  const create = db.prepare(`INSERT INTO notes (title, body) VALUES (?, ?) RETURNING ${NOTE}`);
  // SQLite stores CURRENT_TIMESTAMP as UTC text: "2026-12-03 11:00:00".
  const note = (row) => row && {
    ...row,
    created_at: `${row.created_at.replace(" ", "T")}Z`,
    updated_at: `${row.updated_at.replace(" ", "T")}Z`,
  };
  return {
    one: async (id) => note(one.get(id)),
    page: async (limit, offset) => page.all(limit, offset).map(note),
    count: async () => count.get(),
    create: async (title, body) => note(create.get(title, body)),
  };
}

function postgres() {
  const { Pool } = require("pg");
  const url = new URL(`db://${rest}`);
  const pool = new Pool({
    host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password) || undefined, database: url.pathname.slice(1),
    max: Number(process.env.DATABASE_POOL_MAX || 10),
  });
  const rows = async (name, text, values) => (await pool.query({ name, text, values })).rows;
  return {
    one: async (id) => (await rows("one", `SELECT ${NOTE} FROM notes WHERE id = $1`, [id]))[0],
    page: (limit, offset) =>
      rows("page", `SELECT ${NOTE} FROM notes ORDER BY id LIMIT $1 OFFSET $2`, [limit, offset]),
    count: async () => Number((await rows("count", "SELECT count(*) AS n FROM notes"))[0].n),
    create: async (title, body) =>
      (await rows("create", `INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING ${NOTE}`,
        [title, body]))[0],
  };
}

const notes = scheme.startsWith("sqlite") ? sqlite(decodeURIComponent(rest.slice(1))) : postgres();

const note = {
  type: "object",
  properties: {
    id: { type: "integer" }, title: { type: "string" }, body: { type: "string" },
    created_at: { type: "string" }, updated_at: { type: "string" },
  },
};
const problem = { type: "object", properties: { status: { type: "integer" }, detail: { type: "string" } } };

fastify.get("/health/live", {
  schema: { response: { 200: { type: "object", properties: { status: { type: "string" } } } } },
}, async () => ({ status: "ok" }));

fastify.get("/api/notes/:id", {
  schema: {
    params: { type: "object", properties: { id: { type: "integer" } } },
    response: { 200: note, 404: problem },
  },
}, async (request, reply) => {
  const { id } = request.params;
  const found = id >= 1 && id <= MAX_ID ? await notes.one(id) : undefined;
  if (!found) return reply.code(404).send({ status: 404, detail: `There is no note with id ${id}.` });
  return found;
});

fastify.get("/api/notes", {
  schema: {
    querystring: {
      type: "object",
      properties: {
        limit: { type: "integer", minimum: 1, maximum: 100, default: 20 },
        offset: { type: "integer", minimum: 0, maximum: MAX_ID, default: 0 },
        total: { type: "string" },
      },
    },
    response: {
      200: {
        type: "object",
        properties: {
          items: { type: "array", items: note }, total: { type: ["integer", "null"] },
          limit: { type: "integer" }, offset: { type: "integer" }, next: { type: ["string", "null"] },
        },
      },
    },
  },
}, async (request) => {
  const { limit, offset, total } = request.query;
  const items = await notes.page(limit + 1, offset);
  let next = null;
  if (items.length > limit) {
    const query = new URLSearchParams(request.raw.url.split("?")[1] || "");
    query.set("offset", String(offset + limit));
    next = `http://${request.headers.host}/api/notes?${query}`;
  }
  return {
    items: items.slice(0, limit), total: total === "true" ? await notes.count() : null,
    limit, offset, next,
  };
});

fastify.post("/api/notes", {
  schema: {
    body: {
      type: "object",
      required: ["title"],
      additionalProperties: false,
      properties: {
        title: { type: "string", minLength: 1, maxLength: 200 },
        body: { type: "string", maxLength: 10000, default: "" },
      },
    },
    response: { 201: note },
  },
}, async (request, reply) => {
  const created = await notes.create(request.body.title.trim(), request.body.body.trim());
  reply.code(201).header("location", `http://${request.headers.host}/api/notes/${created.id}`);
  return created;
});

fastify.listen({ host: process.env.HOST || "127.0.0.1", port: Number(process.env.PORT || 8002) })
  .catch((error) => { console.error(error); process.exit(1); });

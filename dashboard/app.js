// MonteCluster dashboard: plain JavaScript over the REST API (no framework, no build step). Every value from the
// server reaches the page through textContent or attributes, never as HTML.
"use strict";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const STATUSES = ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"];
const main = document.getElementById("main");
let cleanup = [];  // what the current view must stop (timers, streams) when another replaces it

// ---- DOM and API helpers ----

function el(tag, attributes, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function token() { return localStorage.getItem("montecluster-token") || ""; }
function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (token()) headers.Authorization = "Bearer " + token();
  return headers;
}

class ProblemError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || "HTTP " + status);
    this.problem = problem; this.status = status;
  }
}

async function api(method, path, body) {
  const options = { method, headers: authHeaders({ Accept: "application/json" }) };
  if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!response.ok) throw new ProblemError(data || {}, response.status);
  return data;
}

// Images and downloads: plain URLs on loopback; with a token, fetched with it and shown from a blob URL.
async function resourceURL(path) {
  if (!token()) return path;
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new Error("HTTP " + response.status);
  const url = URL.createObjectURL(await response.blob());
  cleanup.push(() => URL.revokeObjectURL(url));
  return url;
}

function announce(text) { document.getElementById("announcer").textContent = text; }

function age(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return Math.round(seconds) + " s";
  if (seconds < 3600) return Math.round(seconds / 60) + " min";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
  return (seconds / 86400).toFixed(1) + " d";
}

function badge(status) { return el("span", { class: "badge status-" + status }, status); }
function tags(list) { return (list || []).map((tag) => el("span", { class: "tag" }, tag)); }
function problemText(error) {
  if (error instanceof ProblemError) {
    const p = error.problem;
    return (p.code ? p.code + ": " : "") + (p.detail || p.title || "error") + (p.field ? " (" + p.field + ")" : "");
  }
  return String(error && error.message || error);
}
function errorBox(error) { return el("p", { class: "reason", role: "alert" }, problemText(error)); }

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query || "") };
}

// ---- Server-Sent Events over fetch (an EventSource cannot send the token), resumed with Last-Event-ID ----

async function followEvents(jobID, onEvent, signal) {
  let last = null;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (last !== null) headers["Last-Event-ID"] = String(last);
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobID)}/events`, { headers, signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let ended = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = { id: null, type: "message", data: "" };
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (name === "id") event.id = Number(text);
            else if (name === "event") event.type = text;
            else if (name === "data") event.data += text;
          }
          if (!event.data) continue;
          if (event.id !== null) last = event.id;
          failures = 0;
          const data = JSON.parse(event.data);
          onEvent(event.type, data);
          if (event.type === "status" && TERMINAL.includes(data.status)) ended = true;
        }
      }
      if (ended) return;
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 300 * 2 ** failures)));
  }
}

// ---- Small live charts of metrics (the server draws the final ones) ----

class MetricChart {
  constructor(name, unit) {
    this.points = [];
    this.svg = el("svg:svg", { viewBox: "0 0 300 130", preserveAspectRatio: "none", role: "img", "aria-label": "metric " + name });
    this.line = el("svg:polyline", { fill: "none", stroke: "#1f77b4", "stroke-width": "1.6", "vector-effect": "non-scaling-stroke" });
    this.labels = el("p", { class: "muted chart-note" });
    this.svg.append(el("svg:rect", { x: 0, y: 0, width: 300, height: 130, fill: "#fafbfc", stroke: "#d9dde5" }), this.line);
    this.node = el("div", { class: "chart", "data-metric": name }, el("h3", {}, name + (unit && unit !== "1" ? " (" + unit + ")" : "")), this.svg, this.labels);
  }
  add(step, value) {
    if (value === null || !Number.isFinite(value)) return;
    this.points.push([step, value]);
  }
  draw() {
    const points = this.points;
    if (!points.length) return;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of points) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 1; y1 += 1; }
    const step = Math.max(1, Math.floor(points.length / 600));
    const coordinates = [];
    for (let i = 0; i < points.length; i += step) {
      const [x, y] = points[i];
      coordinates.push(((x - x0) / (x1 - x0) * 290 + 5).toFixed(1) + "," + (125 - (y - y0) / (y1 - y0) * 120).toFixed(1));
    }
    this.line.setAttribute("points", coordinates.join(" "));
    this.svg.setAttribute("data-points", String(points.length));
    const lastPoint = points[points.length - 1];
    this.labels.textContent = `step ${lastPoint[0]}: ${Number(lastPoint[1].toPrecision(4))} · range ${Number(y0.toPrecision(3))} … ${Number(y1.toPrecision(3))}`;
  }
}

// ---- Views ----

async function jobsView(query) {
  const filters = { status: query.get("status") || "", kind: query.get("kind") || "", tag: query.get("tag") || "", name: query.get("name") || "" };
  const pages = (query.get("pages") || "").split(",").filter(Boolean);  // page tokens of the pages before this one
  const kinds = await api("GET", "/v1/kinds").then((d) => d.kinds.map((k) => k.name)).catch(() => []);
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
    el("div", {}, el("label", { for: "f-status" }, "Status"),
      el("select", { id: "f-status", name: "status" }, el("option", { value: "" }, "any"), STATUSES.map((s) => el("option", { value: s, selected: s === filters.status }, s)))),
    el("div", {}, el("label", { for: "f-kind" }, "Kind"),
      el("select", { id: "f-kind", name: "kind" }, el("option", { value: "" }, "any"), kinds.map((k) => el("option", { value: k, selected: k === filters.kind }, k)))),
    el("div", {}, el("label", { for: "f-tag" }, "Tag"), el("input", { id: "f-tag", name: "tag", type: "text", value: filters.tag, size: 12 })),
    el("div", {}, el("label", { for: "f-name" }, "Name starts with"), el("input", { id: "f-name", name: "name", type: "text", value: filters.name, size: 14 })),
    el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const key of ["status", "kind", "tag", "name"]) { const value = form.elements[key].value.trim(); if (value) params.set(key, value); }
    location.hash = "#/jobs?" + params.toString();
  });
  const table = el("tbody");
  const pager = el("div", { class: "pager" });
  main.replaceChildren(el("h1", {}, "Jobs"), form,
    el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden" }, "Jobs, newest first"),
      el("thead", {}, el("tr", {}, ["Status", "Kind", "Name", "Tags", "Progress", "Age"].map((h, i) => el("th", { scope: "col", class: i === 3 ? "hide-narrow" : null }, h)))),
      table)), pager);

  async function load() {
    const params = new URLSearchParams({ page_size: "25" });
    for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
    if (pages.length) params.set("page_token", pages[pages.length - 1]);
    let page;
    try { page = await api("GET", "/v1/jobs?" + params.toString()); } catch (error) { table.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, errorBox(error)))); return; }
    table.replaceChildren(...page.jobs.map((job) => el("tr", { "data-job": job.id },
      el("td", {}, badge(job.status)),
      el("td", {}, el("a", { href: "#/jobs/" + job.id }, job.kind)),
      el("td", {}, job.name || el("span", { class: "muted" }, job.id.slice(0, 8))),
      el("td", { class: "hide-narrow" }, tags(job.tags)),
      el("td", {}, el("progress", { max: 1, value: job.progress ? job.progress.fraction : 0, "aria-label": "progress of " + (job.name || job.id) })),
      el("td", {}, age(job.created_at)))));
    if (!page.jobs.length) table.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No jobs yet. ", el("a", { href: "#/new" }, "Submit one."))));
    const base = new URLSearchParams(); for (const [k, v] of Object.entries(filters)) if (v) base.set(k, v);
    const link = (list, label) => { const p = new URLSearchParams(base); if (list.length) p.set("pages", list.join(",")); return el("a", { class: "button secondary", href: "#/jobs?" + p.toString() }, label); };
    pager.replaceChildren(pages.length ? link(pages.slice(0, -1), "← Newer") : "", page.next_page_token ? link(pages.concat([page.next_page_token]), "Older →") : "");
  }
  await load();
  const timer = setInterval(load, 3000);  // the table stays current without reloading the page
  cleanup.push(() => clearInterval(timer));
}

async function jobView(id) {
  let job;
  try { job = await api("GET", "/v1/jobs/" + encodeURIComponent(id)); } catch (error) { main.replaceChildren(el("h1", {}, "Job"), errorBox(error)); return; }
  const kinds = await api("GET", "/v1/kinds").then((d) => d.kinds).catch(() => []);
  const declared = {};
  for (const kind of kinds) if (kind.name === job.kind) for (const metric of kind.metrics || []) declared[metric.name] = metric;

  const status = el("span", {});
  const progress = el("progress", { max: 1, value: 0, id: "job-progress", "aria-label": "job progress" });
  const phase = el("p", { class: "muted", id: "job-phase" });
  const reason = el("div", {});
  const actions = el("div", { class: "actions" });
  const summary = el("div", {});
  const charts = el("div", { class: "charts", id: "charts" });
  const plots = el("div", { class: "plots", id: "plots" });
  const artifacts = el("ul", { id: "artifacts" });
  const log = el("pre", { class: "log", id: "log", "aria-label": "job log" });
  const chartByName = {};
  let redraw = null;

  function render(job) {
    status.replaceChildren(badge(job.status));
    status.setAttribute("data-status", job.status);
    progress.value = job.progress ? job.progress.fraction : 0;
    phase.textContent = [job.progress && job.progress.phase, job.progress && job.progress.message].filter(Boolean).join(" · ") || (TERMINAL.includes(job.status) ? "" : "waiting for a worker");
    reason.replaceChildren(job.reason ? el("div", { class: "reason", role: job.status === "failed" ? "alert" : null }, el("strong", {}, job.status === "failed" ? "Failed: " : "Reason: "), job.reason) : "");
    actions.replaceChildren(
      TERMINAL.includes(job.status) ? "" : el("button", { class: "danger", type: "button", onclick: () => api("POST", `/v1/jobs/${id}/cancel`).then(render).catch((e) => alert(problemText(e))) }, "Cancel"),
      TERMINAL.includes(job.status) ? el("button", { class: "danger", type: "button", onclick: async () => {
        if (!confirm("Delete this job with its metrics and artifacts?")) return;
        try { await api("DELETE", "/v1/jobs/" + id); location.hash = "#/"; } catch (e) { alert(problemText(e)); }
      } }, "Delete") : "",
      el("a", { class: "button secondary", href: `#/new?kind=${encodeURIComponent(job.kind)}&from=${encodeURIComponent(job.id)}` }, "Resubmit…"));
  }

  function chart(name) {
    if (!chartByName[name]) {
      chartByName[name] = new MetricChart(name, declared[name] && declared[name].unit);
      charts.append(chartByName[name].node);
    }
    return chartByName[name];
  }
  function scheduleDraw() {
    if (redraw) return;
    redraw = requestAnimationFrame(() => { redraw = null; for (const c of Object.values(chartByName)) c.draw(); });
  }

  async function finished(job) {
    const result = job.status === "succeeded" ? await api("GET", `/v1/jobs/${id}/result`).then((r) => r.result).catch(() => null) : null;
    const fields = [];
    if (result) {
      const scores = result.scores || (result.acc !== undefined ? { acc: result.acc } : null);
      if (scores) for (const [key, value] of Object.entries(scores)) if (typeof value === "number") fields.push([key, value.toFixed(4)]);
      for (const key of ["k", "samples", "converged", "chains", "draws", "pareto_k", "kish_ess"]) if (result[key] !== undefined && typeof result[key] !== "object") fields.push([key, String(result[key])]);
    }
    summary.replaceChildren(
      fields.length ? el("dl", { class: "summary-grid" }, fields.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v)))) : "",
      result && result.warnings && result.warnings.length ? el("ul", { class: "warnings", "aria-label": "warnings" }, result.warnings.slice(0, 20).map((w) => el("li", {}, w))) : "",
      result ? el("details", {}, el("summary", {}, "Result (JSON)"), el("pre", {}, JSON.stringify(result, null, 2))) : "");
    const list = await api("GET", `/v1/jobs/${id}/plots`).then((d) => d.plots).catch(() => []);
    plots.replaceChildren(...(list.length ? [] : [el("p", { class: "muted" }, "This job has no plots.")]));
    for (const plot of list) {
      const image = el("img", { alt: plot.title + ": " + plot.description, loading: "lazy", "data-plot": plot.name });
      const figure = el("figure", {}, image, el("figcaption", {}, el("strong", {}, plot.title), " — " + plot.description + " ",
        el("a", { href: plot.svg, target: "_blank", rel: "noopener" }, "SVG"), " · ", el("a", { href: plot.png, target: "_blank", rel: "noopener" }, "PNG")));
      plots.append(figure);
      resourceURL(plot.svg).then((url) => { image.src = url; }).catch(() => figure.append(el("p", { class: "error" }, "could not load the plot")));
    }
    const files = await api("GET", `/v1/jobs/${id}/artifacts`).then((d) => d.artifacts).catch(() => []);
    artifacts.replaceChildren(...(files.length ? files.map((file) => el("li", {},
      el("a", { href: file.href, download: file.name, onclick: token() ? (event) => { event.preventDefault(); resourceURL(file.href).then((url) => { const a = el("a", { href: url, download: file.name }); a.click(); }); } : null }, file.name),
      el("span", { class: "muted" }, ` ${file.media_type}, ${(file.size / 1024).toFixed(1)} KiB`))) : [el("li", { class: "muted" }, "none")]));
  }

  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← Jobs")),
    el("h1", {}, job.kind + (job.name ? " · " + job.name : "")),
    el("p", { class: "muted" }, "id ", el("code", {}, job.id), " · created ", job.created_at, " · attempt ", String(job.attempt), " of ", String(job.max_attempts), " ", tags(job.tags)),
    el("p", { "aria-live": "polite" }, "Status: ", status),
    el("div", { class: "job-progress" }, progress, phase), reason, actions,
    summary,
    el("h2", {}, "Metrics"), charts,
    el("h2", {}, "Plots"), plots,
    el("h2", {}, "Artifacts"), artifacts,
    el("details", {}, el("summary", {}, "Parameters"), el("pre", {}, JSON.stringify(job.params, null, 2))),
    el("h2", {}, "Log"), log);
  render(job);
  if (TERMINAL.includes(job.status)) finished(job);

  const controller = new AbortController();
  cleanup.push(() => controller.abort());
  const logLines = [];
  followEvents(id, (type, data) => {
    if (type === "metric") { chart(data.name).add(data.step, data.value); scheduleDraw(); }
    else if (type === "progress") { job.progress = data; render(job); }
    else if (type === "log") { logLines.push(`${data.time} ${data.level.toUpperCase()} ${data.message}`); log.textContent = logLines.join("\n"); }
    else if (type === "status") {
      logLines.push(`${data.time} STATUS ${data.status}${data.reason ? ": " + data.reason : ""}`);
      log.textContent = logLines.join("\n");
      if (data.status !== job.status) {
        api("GET", "/v1/jobs/" + id).then((fresh) => {
          const wasTerminal = TERMINAL.includes(job.status);
          job = fresh; render(job);
          announce("Job " + job.status);
          if (TERMINAL.includes(job.status) && !wasTerminal) finished(job);
        }).catch(() => {});
      }
    }
  }, controller.signal);
}

async function datasetsView() {
  let list;
  try { list = (await api("GET", "/v1/datasets")).datasets; } catch (error) { main.replaceChildren(el("h1", {}, "Datasets"), errorBox(error)); return; }
  main.replaceChildren(el("h1", {}, "Datasets"),
    el("p", { class: "muted" }, "Upload with the API (POST /v1/datasets) or the Python client: mc.upload(array, labels=…). Generated datasets (generated:blobs, generated:shapes, …) need no upload."),
    list.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Name", "Kind", "Shape", "Labels", "Created"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, list.map((d) => el("tr", {},
        el("td", {}, el("a", { href: "#/datasets/" + d.id }, d.name || d.id.slice(0, 8))),
        el("td", {}, d.kind), el("td", {}, (d.shape || []).join(" × ")),
        el("td", {}, d.label_counts ? Object.keys(d.label_counts).length + " classes" : "none"),
        el("td", {}, age(d.created_at))))))) : el("p", {}, "No uploaded datasets."));
}

async function datasetView(id) {
  let d;
  try { d = await api("GET", "/v1/datasets/" + encodeURIComponent(id)); } catch (error) { main.replaceChildren(el("h1", {}, "Dataset"), errorBox(error)); return; }
  const preview = el("img", { alt: d.kind === "images" ? "sample images by label" : "PCA of the samples by label", id: "dataset-preview" });
  const counts = d.label_counts ? Object.entries(d.label_counts) : [];
  main.replaceChildren(el("p", {}, el("a", { href: "#/datasets" }, "← Datasets")),
    el("h1", {}, d.name || d.id),
    el("dl", { class: "summary-grid" }, [["id", d.id], ["kind", d.kind], ["shape", (d.shape || []).join(" × ")], ["dtype", d.dtype], ["format", d.source_format], ["size", (d.bytes / 1024).toFixed(1) + " KiB"], ["sha256", (d.sha256 || "").slice(0, 16) + "…"]]
      .map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v || "")))),
    el("h2", {}, "Labels"),
    counts.length ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "label"), el("th", { scope: "col" }, "samples"))),
      el("tbody", {}, counts.map(([label, count]) => el("tr", {}, el("td", {}, (d.label_names && d.label_names[label]) || label), el("td", {}, String(count))))))) : el("p", { class: "muted" }, "No labels."),
    el("h2", {}, d.kind === "images" ? "Samples" : "PCA"), el("div", { class: "plots" }, el("figure", {}, preview)),
    el("p", {}, el("a", { class: "button", href: "#/new?dataset=" + encodeURIComponent(d.id) }, "Cluster this dataset…")));
  resourceURL(`/v1/datasets/${encodeURIComponent(id)}/preview.svg`).then((url) => { preview.src = url; }).catch(() => {});
}

// The form is generated from the kind's JSON Schema (GET /v1/kinds), prefilled with its example.
async function newJobView(query) {
  const kinds = (await api("GET", "/v1/kinds")).kinds;
  let source = null;
  if (query.get("from")) source = await api("GET", "/v1/jobs/" + encodeURIComponent(query.get("from"))).catch(() => null);
  const initial = query.get("kind") || (query.get("dataset") ? "cluster.kmeans" : kinds[0].name);
  const select = el("select", { id: "kind", name: "kind" }, kinds.map((k) => el("option", { value: k.name, selected: k.name === initial }, k.name)));
  const about = el("p", { class: "muted", id: "kind-summary" });
  const fields = el("div", { class: "form-grid" });
  const jobName = el("input", { id: "job-name", type: "text", maxlength: 200 });
  const jobTags = el("input", { id: "job-tags", type: "text", placeholder: "comma separated" });
  const message = el("div", { role: "alert" });
  const form = el("form", { novalidate: true, "aria-describedby": "kind-summary" },
    el("div", { class: "field" }, el("label", { for: "kind" }, "Kind"), select), about, fields,
    el("div", { class: "form-grid" },
      el("div", { class: "field" }, el("label", { for: "job-name" }, "Job name (optional)"), jobName),
      el("div", { class: "field" }, el("label", { for: "job-tags" }, "Tags (optional)"), jobTags)),
    message, el("button", { type: "submit", id: "submit-job" }, "Submit job"));
  main.replaceChildren(el("h1", {}, "New job"), form);

  let inputs = {};
  function build(kindName, values) {
    const kind = kinds.find((k) => k.name === kindName);
    about.textContent = kind.summary || "";
    const schema = kind.parameters || {};
    const required = new Set(schema.required || []);
    const start = Object.assign({}, kind.defaults || {}, kind.example || {}, values || {});
    inputs = {};
    const names = Object.keys(schema.properties || {}).sort((a, b) => (required.has(b) - required.has(a)) || ((b in (kind.example || {})) - (a in (kind.example || {}))) || a.localeCompare(b));
    fields.replaceChildren(...names.map((name) => {
      const property = schema.properties[name];
      const id = "param-" + name;
      const types = [].concat(property.type || (property.oneOf ? property.oneOf.map((o) => o.type) : []) || []);
      const value = start[name];
      let input;
      if (property.enum) {
        input = el("select", { id }, required.has(name) ? "" : el("option", { value: "" }, "(default)"), property.enum.map((option) => el("option", { value: option, selected: option === value }, String(option))));
        input.kindOf = "enum";
      } else if (types.includes("boolean") && types.length === 1) {
        input = el("input", { id, type: "checkbox", checked: value === true });
        input.kindOf = "boolean";
      } else if ((types.includes("integer") || types.includes("number")) && !types.includes("string") && !types.includes("object") && !types.includes("array")) {
        input = el("input", { id, type: "number", step: types.includes("integer") ? 1 : "any", min: property.minimum, max: property.maximum, value: value === undefined || value === null ? "" : value });
        input.kindOf = "number";
      } else if (types.includes("string") && types.length === 1) {
        input = property.maxLength && property.maxLength > 200
          ? el("textarea", { id, rows: 5 }, value === undefined ? "" : String(value))
          : el("input", { id, type: "text", value: value === undefined ? "" : String(value), maxlength: property.maxLength });
        input.kindOf = "string";
      } else {
        input = el("textarea", { id, rows: 3 }, value === undefined ? "" : JSON.stringify(value));
        input.kindOf = "json";
      }
      inputs[name] = input;
      const helpID = id + "-help";
      input.setAttribute("aria-describedby", helpID);
      if (required.has(name)) input.setAttribute("aria-required", "true");
      return el("div", { class: "field", "data-field": "params." + name },
        el("label", { for: id }, name + (required.has(name) ? " *" : "")), input,
        el("div", { class: "help", id: helpID }, (property.description || "") + ("default" in property ? ` Default: ${JSON.stringify(property.default)}.` : "")),
        el("div", { class: "error" }));
    }));
  }
  function collect() {
    const params = {};
    for (const [name, input] of Object.entries(inputs)) {
      if (input.kindOf === "boolean") { params[name] = input.checked; continue; }
      const raw = input.value.trim();
      if (raw === "") continue;
      if (input.kindOf === "number") params[name] = Number(raw);
      else if (input.kindOf === "json") { try { params[name] = JSON.parse(raw); } catch (_) { params[name] = raw; } }
      else params[name] = raw;
    }
    return params;
  }
  const startValues = source ? source.params : (query.get("dataset") ? { dataset: query.get("dataset") } : null);
  build(initial, startValues);
  select.addEventListener("change", () => build(select.value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const node of form.querySelectorAll(".field.invalid")) { node.classList.remove("invalid"); node.querySelector(".error").textContent = ""; }
    message.replaceChildren();
    const body = { kind: select.value, params: collect() };
    if (jobName.value.trim()) body.name = jobName.value.trim();
    const tagList = jobTags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) body.tags = tagList;
    try {
      const job = await api("POST", "/v1/jobs", body);
      location.hash = "#/jobs/" + job.id;
    } catch (error) {
      const field = error.problem && error.problem.field;
      const holder = field && form.querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (holder) {
        holder.classList.add("invalid");
        holder.querySelector(".error").textContent = problemText(error);
        holder.querySelector("input, select, textarea").focus();
      }
      message.replaceChildren(errorBox(error));
    }
  });
}

// Focus moves to the new content after in-page navigation (screen readers announce it), not on the first load.
async function route(moveFocus) {
  for (const stop of cleanup) stop();
  cleanup = [];
  const { parts, query } = parseHash();
  const section = parts[0] === "datasets" ? "datasets" : parts[0] === "new" ? "new" : "jobs";
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  try {
    if (parts[0] === "jobs" && parts[1]) await jobView(decodeURIComponent(parts[1]));
    else if (parts[0] === "datasets" && parts[1]) await datasetView(decodeURIComponent(parts[1]));
    else if (parts[0] === "datasets") await datasetsView();
    else if (parts[0] === "new") await newJobView(query);
    else await jobsView(query);
  } catch (error) {
    main.replaceChildren(errorBox(error));
  }
  const heading = main.querySelector("h1");
  document.title = (heading ? heading.textContent + " · " : "") + "MonteCluster";
  if (moveFocus === true) main.focus({ preventScroll: true });
}

const tokenInput = document.getElementById("token-input");
tokenInput.value = token();
tokenInput.addEventListener("change", () => { localStorage.setItem("montecluster-token", tokenInput.value.trim()); route(false); });
window.addEventListener("hashchange", () => route(true));
route(false);

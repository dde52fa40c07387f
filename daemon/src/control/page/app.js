// ferry job center: renders ferryd's /v1/events snapshots and sends its actions through the
// same API the CLI uses. No framework, no build step; every value is set as text (never as
// HTML), so nothing a job or a backup is named can run here.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = "";
let events = null;
let last = null;
const openLogs = new Set();
const logs = new Map();

// Sizes as mc prints them (go-humanize's IBytes without the space): 0B, 1.2KiB, 23KiB, 1.0GiB.
function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  if (n < 10) return `${n}B`;
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1024)), units.length - 1);
  const v = Math.floor((n / Math.pow(1024, e)) * 10 + 0.5) / 10;
  return v < 10 ? `${v.toFixed(1)}${units[e]}` : `${v.toFixed(0)}${units[e]}`;
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

// A time in the viewer's time zone, as a <time> element.
function when(ms) {
  if (ms === null || ms === undefined || ms <= 0) return text("span", "–");
  const d = new Date(ms);
  const t = el("time", { datetime: d.toISOString(), title: d.toISOString() });
  t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  return t;
}

function duration(s) {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return e;
}

function text(tag, t, attrs) {
  return el(tag, attrs, t);
}

function badge(state) {
  return text("span", state, { class: `badge s-${state.replace(/[^a-z-]/g, "")}` });
}

// ---- the API ----

class SignedOut extends Error {}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Ferry-CSRF"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await r.json();
  } catch (_) {
    data = null;
  }
  if (r.status === 401) {
    showLogin((data && data.error) || "Your session ended: sign in again.");
    throw new SignedOut();
  }
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

function notice(msg, bad) {
  const n = $("notice");
  n.textContent = msg;
  n.className = bad ? "notice error" : "notice";
}

// ---- signing in ----

function showLogin(msg) {
  stopEvents();
  csrf = "";
  $("main").replaceChildren();
  $("signout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("live").textContent = "signed out";
  $("token").focus();
}

async function start() {
  let s;
  try {
    const r = await fetch("/ui/session", { credentials: "same-origin" });
    s = await r.json();
    if (!r.ok) throw new Error(s.error || r.statusText);
  } catch (e) {
    $("live").textContent = `ferryd does not answer (${e.message}); trying again`;
    setTimeout(start, 3000);
    return;
  }
  if (!s.signed_in) {
    showLogin("");
    return;
  }
  csrf = s.csrf;
  signedIn(s.token_required);
}

function signedIn(tokenRequired) {
  $("login").hidden = true;
  $("signout").hidden = !tokenRequired;
  startEvents();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("token");
  const token = input.value;
  input.value = "";
  $("login-error").textContent = "";
  if (!token.trim()) {
    $("login-error").textContent = "Enter the token.";
    input.focus();
    return;
  }
  try {
    const r = await fetch("/ui/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ token }),
    });
    const data = await r.json();
    if (!r.ok) {
      showLogin(r.status === 401 ? "Wrong token: try again." : data.error || r.statusText);
      return;
    }
    csrf = data.csrf;
    signedIn(data.token_required);
    $("main").focus();
  } catch (e) {
    showLogin(`Cannot reach ferryd: ${e.message}`);
  }
});

$("signout").addEventListener("click", async () => {
  try {
    await fetch("/ui/logout", {
      method: "POST",
      headers: { "X-Ferry-CSRF": csrf },
      credentials: "same-origin",
    });
  } finally {
    showLogin("Signed out.");
  }
});

// ---- live updates ----

function stopEvents() {
  if (events) events.close();
  events = null;
}

function startEvents() {
  stopEvents();
  const es = new EventSource("/v1/events");
  events = es;
  es.addEventListener("open", () => {
    $("live").textContent = "live";
  });
  es.addEventListener("snapshot", (e) => {
    last = JSON.parse(e.data);
    render(last);
  });
  es.addEventListener("problem", (e) => notice(`ferryd: ${e.data}`, true));
  es.addEventListener("error", async () => {
    if (events !== es) return;
    $("live").textContent = "reconnecting…";
    // A closed stream was refused (signed out, or ferryd restarted and forgot the session);
    // an open one reconnects by itself.
    let s = null;
    try {
      const r = await fetch("/ui/session", { credentials: "same-origin" });
      s = await r.json();
    } catch (_) {
      s = null;
    }
    if (events !== es) return;
    if (s && !s.signed_in) {
      showLogin("Your session ended: sign in again.");
    } else if (es.readyState === EventSource.CLOSED) {
      setTimeout(() => {
        if (events === es) startEvents();
      }, 2000);
    }
  });
}

// ---- actions, each behind a confirmation ----

// Opens the confirmation dialog; `fields` are extra inputs; `run(values)` performs the action
// and returns the message to show. The dialog stays open with the error when it fails.
function confirmAction({ title, body, ok, fields, run }) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = body;
  $("confirm-ok").textContent = ok;
  $("confirm-error").textContent = "";
  const box = $("confirm-fields");
  box.replaceChildren();
  for (const f of fields || []) {
    const id = `field-${f.name}`;
    if (f.type === "checkbox") {
      box.append(el("p", { class: "check" },
        el("input", { type: "checkbox", id, name: f.name }),
        text("label", f.label, { for: id })));
    } else {
      const input = f.type === "textarea"
        ? el("textarea", { id, name: f.name, rows: 3, placeholder: f.placeholder || "" })
        : el("input", { id, name: f.name, type: "text", placeholder: f.placeholder || "" });
      box.append(el("p", {}, text("label", f.label, { for: id }), input));
      if (f.help) box.append(text("p", f.help, { class: "muted small" }));
    }
  }
  const okButton = $("confirm-ok");
  const cancel = $("confirm-cancel");
  const done = () => {
    okButton.onclick = null;
    cancel.onclick = null;
    d.close();
  };
  cancel.onclick = (ev) => {
    ev.preventDefault();
    done();
  };
  okButton.onclick = async (ev) => {
    ev.preventDefault();
    const values = {};
    for (const f of fields || []) {
      const input = $(`field-${f.name}`);
      values[f.name] = f.type === "checkbox" ? input.checked : input.value;
    }
    okButton.disabled = true;
    try {
      const msg = await run(values);
      done();
      notice(msg, false);
    } catch (e) {
      if (e instanceof SignedOut) done();
      else $("confirm-error").textContent = e.message;
    } finally {
      okButton.disabled = false;
    }
  };
  d.showModal();
  const first = box.querySelector("input, textarea");
  (first || okButton).focus();
}

const enc = encodeURIComponent;

function syncAction(job) {
  confirmAction({
    title: `Sync ${job.name} now`,
    body: `Start a full scan of ${job.source} now and copy what changed to ${job.target}.`,
    ok: "Sync now",
    fields: [{ name: "check", type: "checkbox", label: "Also check the target (list it and compare with the manifest)" }],
    run: async (v) => {
      const a = await api("POST", `/v1/jobs/${enc(job.name)}/sync?check_target=${v.check ? "true" : "false"}`);
      return `${job.name}: sync ${a.sync}${v.check ? " (with a target check)" : ""}.`;
    },
  });
}

function pauseAction(job) {
  const pause = !job.paused;
  confirmAction({
    title: `${pause ? "Pause" : "Resume"} ${job.name}`,
    body: pause
      ? "No new run starts until you resume it; a run in progress finishes."
      : "Runs start again, beginning with any that waited.",
    ok: pause ? "Pause" : "Resume",
    run: async () => {
      const a = await api("POST", `/v1/jobs/${enc(job.name)}/${pause ? "pause" : "resume"}`);
      return `${job.name}: ${a.paused ? "paused" : "resumed"}.`;
    },
  });
}

function restoreAction(job, b) {
  confirmAction({
    title: `Restore ${b.name}`,
    body: `Restore backup ${b.name} (${plural(b.collections, "collection")}, ${b.rows} rows) with job ${job.name}'s restore trigger.`,
    ok: "Restore",
    fields: [
      { name: "suffix", label: "Collection suffix (optional)", placeholder: "_bak" },
      { name: "renames", type: "textarea", label: "Renames (optional, one OLD:NEW per line)", placeholder: "db1.c1:db2.c1_new" },
      { name: "again", type: "checkbox", label: "Restore again if this backup id was restored before" },
    ],
    run: async (v) => {
      const renames = v.renames.split(/[\n,]/).map((s) => s.trim()).filter((s) => s);
      const body = { backup: b.name, renames, again: v.again };
      if (v.suffix.trim()) body.suffix = v.suffix.trim();
      const r = await api("POST", `/v1/jobs/${enc(job.name)}/restores`, body);
      return `Restore of ${b.name} requested (${r.id || "waiting for its id"}): ${r.state}.`;
    },
  });
}

function retryAction(r) {
  confirmAction({
    title: `Retry restore ${r.id}`,
    body: `Fire the restore of ${r.backup} again. It failed with: ${r.detail || "(no detail)"}`,
    ok: "Retry",
    run: async () => {
      const a = await api("POST", `/v1/restores/${enc(r.id)}/retry`);
      return `Restore ${a.id} of ${a.backup}: ${a.state}.`;
    },
  });
}

async function loadLog(id) {
  try {
    const l = await api("GET", `/v1/restores/${enc(id)}/log`);
    logs.set(id, l.log || "(no output yet)");
  } catch (e) {
    if (!(e instanceof SignedOut)) logs.set(id, `(cannot read the log: ${e.message})`);
  }
  if (last) render(last);
}

// ---- rendering ----

function row(label, ...value) {
  return [text("dt", label), el("dd", {}, ...value)];
}

// `rows`: arrays of cells, each array with an optional `id` for its <tr>.
function table(caption, heads, rows) {
  const t = el("table", {},
    text("caption", caption),
    el("thead", {}, el("tr", {}, ...heads.map((h) => text("th", h, { scope: "col" })))));
  const body = el("tbody");
  for (const cells of rows) {
    body.append(el("tr", { id: cells.id }, ...cells.map((c, i) => {
      const td = el("td", { "data-label": heads[i] });
      if (c !== null && c !== undefined) td.append(typeof c === "object" ? c : String(c));
      return td;
    })));
  }
  t.append(body);
  return el("div", { class: "scroll" }, t);
}

function runSummary(r) {
  if (!r) return text("span", "none yet");
  const parts = [
    `${r.kind} run`,
    `${plural(r.copied, "object")} copied (${size(r.bytes)})`,
    `${r.unchanged} unchanged`,
  ];
  if (r.adopted) parts.push(`${r.adopted} adopted`);
  if (r.deleted) parts.push(`${r.deleted} deleted`);
  if (r.failed) parts.push(`${r.failed} failed`);
  if (r.skipped) parts.push(`${r.skipped} skipped by filters`);
  parts.push(`in ${duration(r.seconds)}`);
  return el("span", {}, when(r.started_ms), " · ", parts.join(", "),
    r.error ? el("span", { class: "error block" }, `Error: ${r.error}`) : null);
}

function progress(done, total, label) {
  const pct = total > 0 ? Math.floor((done * 100) / total) : 0;
  return el("span", { class: "progress" },
    el("progress", { max: total || 1, value: done, "aria-label": label }),
    ` ${size(done)} of ${size(total)} (${pct} %)`);
}

// What a verification rested on: objects the target checked on upload, objects read back.
function evidence(e) {
  if (!e || (!e.upload_checked && !e.read_back)) return "–";
  const parts = [];
  if (e.upload_checked) parts.push(`${e.upload_checked} checked by the target on upload`);
  if (e.read_back) parts.push(`${e.read_back} read back`);
  return text("span", parts.join(", "), { class: "muted small" });
}

function backupSize(b) {
  if (b.copy && b.copy.total !== null) return progress(b.copy.done, b.copy.total, `${b.name} copied`);
  if (b.copy) return `${size(b.copy.done)} at the target (measuring the source…)`;
  return `${size(b.bytes)} · ${plural(b.objects, "object")}`;
}

function backupRows(job) {
  return (job.backups || []).map((b) => {
    const restore = b.restore ? el("span", {}, badge(b.restore.state), " ", text("span", b.restore.id, { class: "mono small" })) : "–";
    const action = b.state === "verified"
      ? el("button", { type: "button", id: `restore-${job.name}-${b.name}`, onclick: () => restoreAction(job, b) }, "Restore…")
      : null;
    const cells = [
      text("span", b.name, { class: "mono" }),
      badge(b.state),
      b.detail
        ? text("span", b.detail, { class: b.state === "verified" ? "" : "detail" })
        : b.state === "verified" ? evidence(b.evidence) : "–",
      backupSize(b),
      b.backup_id ? b.rows : "–",
      b.backup_id ? b.segments : "–",
      when(b.created_ms),
      when(b.verified_ms),
      restore,
      action,
    ];
    cells.id = `backup-${job.name}-${b.name}`;
    return cells;
  });
}

function countsOf(r) {
  if (!r.counts || !r.counts.length) return null;
  return el("ul", { class: "counts" }, ...r.counts.map((c) =>
    text("li", `${c.collection}: ${c.actual === null ? "?" : c.actual} of ${c.expected} rows`,
      { class: c.actual !== null && c.actual !== c.expected ? "error" : "" })));
}

function restoreRows(list) {
  return list.map((r) => {
    const failed = r.state === "restore-failed";
    const actions = el("span", { class: "actions" });
    if (failed && r.id) {
      actions.append(el("button", { type: "button", id: `retry-${r.id}`, onclick: () => retryAction(r) }, "Retry…"));
    }
    if (r.kind === "exec" && r.id) {
      const open = openLogs.has(r.id);
      actions.append(el("button", {
        type: "button",
        id: `log-${r.id}`,
        "aria-expanded": open ? "true" : "false",
        onclick: () => {
          if (openLogs.has(r.id)) openLogs.delete(r.id);
          else {
            openLogs.add(r.id);
            loadLog(r.id);
          }
          render(last);
        },
      }, open ? "Hide log" : "Log"));
    }
    const state = el("span", {}, badge(r.state), r.step ? ` (${r.step})` : "");
    const detail = el("div", {},
      r.detail ? text("span", r.detail, { class: failed || r.state === "count-mismatch" || r.state === "verify-failed" ? "detail error" : "detail" }) : null,
      countsOf(r),
      openLogs.has(r.id) ? text("pre", logs.get(r.id) || "loading…", { class: "log", "aria-label": `log of ${r.id}` }) : null);
    const prog = r.state === "restoring" || r.progress > 0
      ? el("span", {}, el("progress", { max: 100, value: r.progress, "aria-label": `${r.id} progress` }), ` ${r.progress} %`)
      : "–";
    const cells = [
      text("span", r.id || "(after its backup is verified)", { class: "mono small" }),
      r.backup,
      r.kind || "–",
      state,
      prog,
      r.attempts,
      when(r.requested_ms),
      when(r.ended_ms || r.fired_ms),
      r.job_ref || "–",
      detail,
      actions,
    ];
    cells.id = `restore-row-${r.job}-${r.backup}-${r.seq}`;
    return cells;
  });
}

function renderJob(job, restores) {
  const id = `job-${job.name}`;
  const s = el("section", { class: "job", "aria-labelledby": `${id}-title`, id });
  const state = job.paused && job.state !== "paused" ? `${job.state}, paused` : job.state;
  s.append(el("h2", { id: `${id}-title` }, job.name, " ", badge(state),
    job.healthy === false ? text("span", "errors", { class: "badge s-failed" }) : null));
  const dl = el("dl", { class: "facts" });
  dl.append(...row("Source → target", text("span", `${job.source} → ${job.target}`, { class: "mono" })));
  dl.append(...row("Lag", job.lag_seconds > 0 ? duration(job.lag_seconds) : "in sync"));
  dl.append(...row("Objects in sync", `${job.objects_in_sync}` + (job.last_scan_ms ? "" : " (no full scan yet)")));
  const pending = [];
  if (job.pending_keys) pending.push(plural(job.pending_keys, "key"));
  if (job.pending_full) pending.push("a full scan");
  dl.append(...row("Pending", pending.length ? pending.join(" and ") : "nothing"));
  dl.append(...row("Last run", runSummary(job.last_run)));
  dl.append(...row("Skipped by filters", `${job.skipped_last_scan} in the last scan`));
  dl.append(...row("Since start", `${plural(job.copied_total, "object")} copied (${size(job.bytes_total)}), ${job.errors_total} errors`));
  if (job.target_check) {
    const c = job.target_check;
    dl.append(...row("Target check", c.checks_sha256
      ? "checks signed SHA-256s: uploads proven without reading back"
      : "stores bodies not matching their signed SHA-256: every object read back",
      el("span", { class: "muted small" }, " (probed ", when(c.probed_ms), `, ${c.identity}: ${c.detail})`)));
  }
  if (job.next_retry_ms) dl.append(...row("Next retry", when(job.next_retry_ms), ` (${plural(job.consecutive_failures, "failed run")} in a row)`));
  s.append(dl);
  if (job.copying && job.copying.length) {
    s.append(el("ul", { class: "copying", "aria-label": "copying now" }, ...job.copying.map((c) =>
      el("li", {}, text("span", c.key, { class: "mono small" }), " ", progress(c.done, c.size, c.key)))));
  }
  if (job.failed && job.failed.length) {
    s.append(table("Recent failures", ["Object", "Error", "When"],
      job.failed.slice(-10).reverse().map((f) => [text("span", f.path, { class: "mono small" }), text("span", f.error, { class: "error" }), when(f.at_ms)])));
  }
  s.append(el("p", { class: "buttons" },
    el("button", { type: "button", id: `sync-${job.name}`, onclick: () => syncAction(job) }, "Sync now…"),
    el("button", { type: "button", id: `pause-${job.name}`, onclick: () => pauseAction(job) }, job.paused ? "Resume…" : "Pause…")));
  if (job.backups) {
    s.append(job.backups.length
      ? table(`Backups of ${job.name}`, ["Backup", "State", "Detail", "Size", "Rows", "Segments", "Created", "Verified", "Restore", ""], backupRows(job))
      : text("p", "No backups seen yet.", { class: "muted" }));
  }
  if (restores.length) {
    s.append(table(`Restores and migrations of ${job.name}`,
      ["Restore", "Backup", "Kind", "State", "Progress", "Attempts", "Requested", "Fired / ended", "Job", "Detail", ""],
      restoreRows(restores)));
  }
  return s;
}

function render(snap) {
  const main = $("main");
  const focused = document.activeElement && document.activeElement.id;
  const st = snap.status;
  const started = new Date(Date.now() - st.uptime_seconds * 1000);
  $("daemon").replaceChildren(`ferryd ${st.version} · started `, when(started.getTime()), ` · ${plural(st.jobs.length, "job")}`);
  const restores = [...snap.restores].reverse();
  const jobs = st.jobs.map((j) => {
    j.healthy = (!j.last_run || !j.last_run.error) && (!j.failed || !j.failed.length);
    return renderJob(j, restores.filter((r) => r.job === j.name));
  });
  main.replaceChildren(...(jobs.length ? jobs : [text("p", "This ferryd has no jobs.")]));
  main.setAttribute("aria-busy", "false");
  if (focused && !$("confirm").open) {
    const again = $(focused);
    if (again) again.focus();
  }
  // Open logs follow a running trigger, and are read once more when it ends.
  for (const id of openLogs) {
    const r = snap.restores.find((x) => x.id === id);
    if (!r) continue;
    const ended = ["restored", "restore-failed", "verifying", "verified", "count-mismatch", "verify-failed", "restore-skipped"].includes(r.state);
    if (!ended) throttledLog(id);
    else if (!logFinal.has(id)) {
      logFinal.add(id);
      loadLog(id);
    }
  }
}

const logFinal = new Set();
const logAt = new Map();
function throttledLog(id) {
  const now = Date.now();
  if ((logAt.get(id) || 0) + 3000 > now) return;
  logAt.set(id, now);
  loadLog(id);
}

start();

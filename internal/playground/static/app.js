// The playground: a client of the native /v1 API like any other. It lists
// the server's languages, submits the editor's program with ?wait=true
// (polling when the server answers before the job ends) and shows what
// came back.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  language: $("language"), mode: $("mode"), run: $("run"), keybox: $("keybox"), key: $("key"),
  code: $("code"), highlight: $("highlight").firstElementChild, stdin: $("stdin"), args: $("args"),
  inputs: $("inputs"), scriptInputs: $("script-inputs"), functionInputs: $("function-inputs"),
  requirementsBox: $("requirements-box"), requirements: $("requirements"), installer: $("installer"),
  status: $("status"), usage: $("usage"), error: $("error"), message: $("message"),
  outputPane: $("output-pane"), output: $("output"), compilePane: $("compile-pane"), compile: $("compile"),
  dependenciesPane: $("dependencies-pane"), dependencies: $("dependencies"),
  stdout: $("stdout"), stderr: $("stderr"),
};
const state = { languages: new Map(), starter: "", running: false };

// api calls the server with the key, if one was given, and returns the
// status and the decoded JSON body.
async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = ui.key.value.trim();
  if (key) headers.Authorization = "Bearer " + key;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = { error: "the server answered " + resp.status + " without JSON" };
  }
  return { status: resp.status, data };
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

async function loadLanguages() {
  let res;
  try {
    res = await api("GET", "/v1/languages");
  } catch (err) {
    showError("Cannot reach the server: " + err.message);
    return;
  }
  if (res.status === 401 || res.status === 403) {
    ui.keybox.hidden = false;
    showError("This server needs an API key: enter it above.");
    ui.key.focus();
    return;
  }
  if (res.status !== 200) {
    showError("Languages: " + (res.data.error || res.status));
    return;
  }
  showError("");
  const previous = ui.language.value;
  ui.language.replaceChildren();
  state.languages.clear();
  for (const l of res.data) {
    state.languages.set(l.id, l);
    const opt = new Option(l.name + " " + l.version, l.id);
    ui.language.append(opt);
  }
  const wanted = [localStorage.getItem("airlock.language"), previous, "python"].find((id) => id && state.languages.has(id));
  if (wanted) ui.language.value = wanted;
  ui.language.disabled = false;
  ui.run.disabled = false;
  languageChanged();
}

// placeholders show a requirement in each installer's format.
const placeholders = { pip: "numpy==1.24.0", npm: "lodash@4.17.21" };

function starterFor(lang, mode) {
  return (snippets[mode] && snippets[mode][lang]) || snippets.fallback;
}

// languageChanged shows the language's starter unless the editor holds
// code of the user's own, and offers function mode where the language has it.
function languageChanged() {
  const l = state.languages.get(ui.language.value);
  if (!l) return;
  localStorage.setItem("airlock.language", l.id);
  const fn = ui.mode.querySelector('option[value="function"]');
  fn.disabled = !l.function_mode;
  if (!l.function_mode) ui.mode.value = "script";
  // Requirements are offered where the language has an installer.
  ui.requirementsBox.hidden = !l.installer;
  ui.installer.textContent = l.installer || "";
  ui.requirements.placeholder = placeholders[l.installer] || "";
  modeChanged();
}

function modeChanged() {
  const fn = ui.mode.value === "function";
  ui.functionInputs.hidden = !fn;
  ui.scriptInputs.hidden = fn;
  if (fn && !ui.inputs.value.trim()) ui.inputs.value = snippets.inputs;
  const current = ui.code.value;
  if (current.trim() === "" || current === state.starter) {
    state.starter = starterFor(ui.language.value, ui.mode.value);
    ui.code.value = state.starter;
  }
  render();
}

function render() {
  ui.highlight.innerHTML = highlighter.toHTML(ui.code.value + "\n", ui.language.value);
  syncScroll();
}

function syncScroll() {
  ui.highlight.parentElement.scrollTop = ui.code.scrollTop;
  ui.highlight.parentElement.scrollLeft = ui.code.scrollLeft;
}

function setStatus(text, kind) {
  ui.status.textContent = text;
  ui.status.className = "badge " + (kind || "");
}

const statusKind = {
  ok: "ok", wrong_answer: "bad", compile_error: "bad", dependency_error: "bad", runtime_error: "bad", internal_error: "bad",
  time_limit: "limit", memory_limit: "limit", output_limit: "limit", cancelled: "limit",
  queued: "busy", running: "busy",
};

function clearResult() {
  for (const pre of [ui.stdout, ui.stderr, ui.compile, ui.dependencies, ui.output]) pre.textContent = "";
  ui.outputPane.hidden = ui.compilePane.hidden = ui.dependenciesPane.hidden = ui.message.hidden = true;
  ui.usage.textContent = "";
  showError("");
}

function formatMemory(kb) {
  return kb >= 1024 ? (kb / 1024).toFixed(1) + " MB" : kb + " KB";
}

function showJob(job) {
  setStatus(job.status.replace(/_/g, " "), statusKind[job.status]);
  const u = job.usage;
  if (u && job.status !== "dependency_error") ui.usage.textContent = "CPU " + u.cpu_ms + " ms · wall " + u.wall_ms + " ms · memory " + formatMemory(u.memory_kb);
  let compiled = "";
  if (job.compile) {
    compiled = (job.compile.stdout || "") + (job.compile.stderr || "");
    ui.compile.textContent = compiled || "(nothing)";
    ui.compilePane.hidden = false;
  }
  // Requirements that could not be installed: the installer's output, as
  // a failed compile's is shown.
  if (job.dependencies) {
    ui.dependencies.textContent = (job.dependencies.stdout || "") + (job.dependencies.stderr || "") || "(nothing)";
    ui.dependenciesPane.hidden = false;
  }
  ui.stdout.textContent = job.stdout || "";
  // A failed compilation's output is also the job's stderr: shown once.
  let stderr = job.stderr === compiled ? "" : job.stderr || "";
  if (job.error) stderr += (stderr ? "\n" : "") + (job.error.traceback || job.error.type + ": " + job.error.message);
  ui.stderr.textContent = stderr;
  const notes = [];
  if (job.message) notes.push(job.message);
  if (job.stdout_truncated) notes.push("stdout was cut at the output limit");
  if (job.stderr_truncated) notes.push("stderr was cut at the output limit");
  if (job.exit_code && job.status !== "compile_error") notes.push("exit code " + job.exit_code);
  if (job.signal) notes.push("signal " + job.signal);
  ui.message.textContent = notes.join(" · ");
  ui.message.hidden = notes.length === 0;
  if (job.output !== undefined) {
    ui.output.textContent = JSON.stringify(job.output, null, 2);
    ui.outputPane.hidden = false;
  }
}

function submission() {
  const body = { language: ui.language.value, code: ui.code.value };
  // Sent as a requirements file's text: the server drops comments and
  // blank lines as pip would.
  if (!ui.requirementsBox.hidden && ui.requirements.value.trim()) body.requirements = ui.requirements.value;
  if (ui.mode.value === "function") {
    body.mode = "function";
    try {
      body.inputs = JSON.parse(ui.inputs.value || "{}");
    } catch (err) {
      throw new Error("inputs are not JSON: " + err.message);
    }
    return body;
  }
  if (ui.stdin.value) body.stdin = ui.stdin.value;
  const args = ui.args.value.split("\n").filter((a) => a !== "");
  if (args.length) body.args = args;
  return body;
}

async function run() {
  if (state.running || ui.run.disabled) return;
  clearResult();
  let body;
  try {
    body = submission();
  } catch (err) {
    setStatus("not sent", "bad");
    showError(err.message);
    return;
  }
  state.running = true;
  ui.run.disabled = true;
  setStatus("running…", "busy");
  try {
    let res = await api("POST", "/v1/executions?wait=true", body);
    while (res.status === 202 || (res.status === 200 && statusKind[res.data.status] === "busy")) {
      await new Promise((r) => setTimeout(r, 500));
      res = await api("GET", "/v1/executions/" + encodeURIComponent(res.data.id));
    }
    if (res.status !== 200) {
      setStatus("error " + res.status, "bad");
      showError(res.data.error || "the server answered " + res.status);
      if (res.status === 401 || res.status === 403) ui.keybox.hidden = false;
      return;
    }
    showJob(res.data);
  } catch (err) {
    setStatus("error", "bad");
    showError("The request failed: " + err.message);
  } finally {
    state.running = false;
    ui.run.disabled = false;
  }
}

// Tab inserts spaces (Shift+Tab removes them at the line's start) rather
// than leaving the editor; the browser's undo keeps working.
function indent(e) {
  const ta = ui.code;
  const width = "    ";
  if (!e.shiftKey) {
    document.execCommand("insertText", false, width) || ta.setRangeText(width, ta.selectionStart, ta.selectionEnd, "end");
    return;
  }
  const start = ta.value.lastIndexOf("\n", ta.selectionStart - 1) + 1;
  const head = ta.value.slice(start, start + width.length);
  const n = head === width ? width.length : head.length - head.trimStart().length;
  if (n > 0) {
    ta.setSelectionRange(start, start + n);
    document.execCommand("delete") || ta.setRangeText("", start, start + n, "end");
  }
}

ui.code.addEventListener("keydown", (e) => {
  if (e.key === "Tab" && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    indent(e);
    render();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  }
});
ui.code.addEventListener("input", render);
ui.code.addEventListener("scroll", syncScroll);
ui.language.addEventListener("change", languageChanged);
ui.mode.addEventListener("change", modeChanged);
ui.run.addEventListener("click", run);
// The key lasts as long as the tab: not kept on disk.
ui.key.value = sessionStorage.getItem("airlock.key") || "";
if (ui.key.value) ui.keybox.hidden = false;
ui.key.addEventListener("change", () => {
  sessionStorage.setItem("airlock.key", ui.key.value.trim());
  loadLanguages();
});
loadLanguages();

// icam serve: the page. Plain JavaScript, no build step. It talks to two endpoints:
// GET /api/model (methods, presets, options, defaults) and POST /api/explain (multipart:
// the image and options under the long names of `icam explain`).
"use strict";

const $ = (id) => document.getElementById(id);

// Names as people write them; a method the server adds later shows under its own name.
const METHOD_NAMES = {
  icam: "I-CAM", gradcam: "Grad-CAM", gradcampp: "Grad-CAM++", layercam: "LayerCAM",
  hirescam: "HiResCAM", "gradcam-elementwise": "Grad-CAM element-wise", xgradcam: "XGrad-CAM",
  eigengradcam: "EigenGrad-CAM", fullgrad: "FullGrad", scorecam: "Score-CAM",
  ablationcam: "Ablation-CAM", eigencam: "Eigen-CAM", fem: "FEM",
};
const methodName = (m) => METHOD_NAMES[m] || m;
// Options with their own controls; every other option goes under "More options".
const OWN_CONTROLS = new Set(["method", "class", "preset", "alpha", "threshold"]);

const state = {
  model: null,      // GET /api/model
  file: null,       // the chosen image (a File or Blob)
  fileName: "",
  photoUrl: null,   // blob: URL of the image
  top: null,        // the last answer's top classes
  cls: null,        // the class explained (null: the predicted one)
  current: null,    // the explanation shown
  seq: 0,           // the latest request; older answers are dropped
  abort: null,
};

// ---------------------------------------------------------------------------------------
// Talking to the server

/** POST /api/explain with the image and `fields`; retries while the server is busy (503). */
async function explain(fields, what, signal) {
  const started = performance.now();
  const timer = setInterval(() => {
    setStatus(`${what} · ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 100);
  setStatus(what);
  try {
    for (;;) {
      const form = new FormData();
      form.append("image", state.file, state.fileName);
      for (const [k, v] of Object.entries(fields)) {
        if (v !== undefined && v !== null && v !== "") form.append(k, String(v));
      }
      let r;
      try {
        r = await fetch("/api/explain", { method: "POST", body: form, signal });
      } catch (e) {
        if (e.name === "AbortError") throw e;
        throw new Error(`cannot reach the server (is icam serve still running?): ${e.message}`);
      }
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 503) {
        const wait = Math.max(1, parseInt(r.headers.get("Retry-After") || "2", 10));
        setStatus(`the server is busy; retrying in ${wait} s`);
        await sleep(wait * 1000, signal);
        continue;
      }
      if (!r.ok) throw new Error((body && body.error) || `${r.status} ${r.statusText}`);
      return body;
    }
  } finally {
    clearInterval(timer);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); });
  });
}

/** The fields of the controls: method, preset, α, T, class and the filled "More options". */
function fields(method) {
  const f = { method: method || $("method").value };
  if (!$("preset-row").hidden) f.preset = $("preset").value;
  if (f.method === "icam") {
    f.alpha = $("alpha").value;
    f.threshold = $("threshold").value;
  }
  if (state.cls !== null) f.class = state.cls;
  for (const el of document.querySelectorAll("#more-options [data-option]")) {
    const name = el.dataset.option;
    if (el.type === "checkbox") { if (el.checked) f[name] = "true"; }
    else if (el.value !== "") f[name] = el.value;
  }
  return f;
}

// ---------------------------------------------------------------------------------------
// Status and errors

function setStatus(text) {
  $("status").hidden = !text;
  $("status-text").textContent = text || "";
}

function showError(msg) {
  $("error").hidden = !msg;
  $("error").textContent = msg ? `Error: ${msg}` : "";
}

function busy(on) {
  document.body.dataset.state = on ? "busy" : (state.current ? "done" : "idle");
  $("compare-run").disabled = on || !state.file;
  if (!on) setStatus("");
}

// ---------------------------------------------------------------------------------------
// Running

/** Explain the chosen image with the controls' settings and show it. */
async function run() {
  if (!state.file) return;
  if (state.abort) state.abort.abort();
  const abort = new AbortController();
  state.abort = abort;
  const seq = ++state.seq;
  const f = fields();
  const cls = state.cls === null ? "the predicted class" : className(state.cls);
  showError("");
  busy(true);
  try {
    const ans = await explain(f, `${methodName(f.method)} of ${cls} on ${state.fileName}`, abort.signal);
    if (seq !== state.seq) return;
    state.top = ans.top;
    state.current = ans.explanations[0];
    renderTop();
    renderExplanation(state.current, ans.seconds);
  } catch (e) {
    if (seq === state.seq && e.name !== "AbortError") showError(e.message);
  } finally {
    if (seq === state.seq) busy(false);
  }
}

/** Explain the shown class with each ticked method, one after the other. */
async function compare() {
  if (!state.file) return;
  const methods = [...document.querySelectorAll("#compare-methods input:checked")].map((c) => c.value);
  if (!methods.length) { showError("tick at least one method to compare"); return; }
  if (state.abort) state.abort.abort();
  const abort = new AbortController();
  state.abort = abort;
  const seq = ++state.seq;
  const out = $("compare");
  out.textContent = "";
  showError("");
  busy(true);
  // The class of the explanation on show, so that every method explains the same one.
  const keep = state.cls;
  if (state.current) state.cls = state.current.class;
  try {
    for (const [i, m] of methods.entries()) {
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = `${methodName(m)}: waiting…`;
      fig.append(cap);
      out.append(fig);
      const what = `${i + 1}/${methods.length}: ${methodName(m)}`;
      const ans = await explain(fields(m), what, abort.signal);
      if (seq !== state.seq) return;
      const e = ans.explanations[0];
      const img = document.createElement("img");
      img.src = png(e.overlay_png);
      img.alt = `${methodName(m)} overlay`;
      fig.prepend(img);
      cap.textContent = "";
      const b = document.createElement("b");
      b.textContent = methodName(m);
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = `${e.class_label} · p=${e.prob.toFixed(3)} · ${secs(ans.seconds)}` +
        (e.report.selected_layers ? ` · ${e.report.selected_layers.length}/${e.layers.length} layers` : "");
      cap.append(b, meta);
    }
  } catch (err) {
    if (seq === state.seq && err.name !== "AbortError") showError(err.message);
  } finally {
    state.cls = keep;
    if (seq === state.seq) busy(false);
  }
}

// ---------------------------------------------------------------------------------------
// Rendering

const png = (b64) => `data:image/png;base64,${b64}`;
const className = (c) => {
  const n = state.model && state.model.classes[c];
  return n ? `${n} (${c})` : `class ${c}`;
};
const secs = (s) => (s < 1 ? `${Math.round(1000 * s)} ms` : `${s.toFixed(1)} s`);
const fmt = (v, d) => (typeof v === "number" && isFinite(v) ? v.toFixed(d) : String(v));

function renderTop() {
  const ol = $("top5");
  ol.textContent = "";
  const shown = state.current ? state.current.class : null;
  for (const t of state.top) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.class = t.class;
    if (t.class === shown) b.classList.add("active");
    const name = document.createElement("span");
    name.textContent = t.label ? `${t.label} (${t.class})` : `class ${t.class}`;
    const p = document.createElement("span");
    p.className = "p";
    p.textContent = `${(100 * t.prob).toFixed(1)} %`;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = `${Math.max(1, 100 * t.prob)}%`;
    bar.append(fill);
    b.append(name, p, bar);
    b.title = `Explain ${name.textContent}`;
    b.addEventListener("click", () => { state.cls = t.class; run(); });
    li.append(b);
    ol.append(li);
  }
}

function renderExplanation(e, seconds) {
  $("welcome").hidden = true;
  $("result").hidden = false;
  const s = $("summary");
  s.textContent = "";
  s.dataset.class = e.class;
  s.dataset.method = e.method;
  const head = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = e.class_label;
  head.append(`${methodName(e.method)} of `, b, ` · p = ${e.prob.toFixed(3)}`);
  const meta = document.createElement("div");
  meta.className = "meta";
  const sel = e.report.selected_layers;
  const cfg = e.report.config;
  meta.textContent = [
    state.fileName,
    `${e.size[0]}×${e.size[1]} px`,
    sel ? `${sel.length} of ${e.layers.length} layers selected` : `layer ${e.layers.map((l) => l.name).join(", ")}`,
    cfg ? `α ${cfg.alpha}, T ${cfg.threshold}, n ${cfg.n}` : null,
    cfg && cfg.preset ? `preset ${cfg.preset}` : null,
    secs(seconds),
  ].filter(Boolean).join(" · ");
  s.append(head, meta);

  const w = $("warnings");
  w.hidden = !e.warnings.length;
  w.textContent = e.warnings.map((x) => `Warning: ${x}`).join("\n");

  $("heat").src = png(e.heat_png);
  $("download").href = png(e.overlay_png);
  $("legend").style.backgroundImage = `url(${png(e.colorbar_png)})`;
  $("report").textContent = JSON.stringify(e.report, null, 2);
  renderGrid(e);
}

function renderGrid(e) {
  const grid = $("grid");
  grid.textContent = "";
  const icam = e.layers.length && e.layers[0].weight !== undefined;
  $("grid-title").textContent = icam ? `Layers (${e.layers.length})` : "Layer";
  $("grid-hint").textContent = icam
    ? "Each layer's map on what the network saw (the centre crop). S: the layer's score (Eq. 3), #: its rank, W: its weight in the fusion. Green: the layers selected for the fused map (yellow)."
    : "The layer's map on what the network saw (the centre crop), and the final heatmap (yellow).";
  const maxW = Math.max(...e.layers.map((l) => (isFinite(l.weight) ? l.weight : 0)), 1e-12);
  const tile = (pic, title, lines, cls, badge, weight) => {
    const t = document.createElement("div");
    t.className = `tile ${cls}`;
    const p = document.createElement("div");
    p.className = "pic";
    const base = document.createElement("img");
    base.src = png(e.input_png);
    base.alt = "";
    const map = document.createElement("img");
    map.className = "map";
    map.src = png(pic);
    map.alt = `${title} map`;
    p.append(base, map);
    const cap = document.createElement("div");
    cap.className = "cap";
    const h = document.createElement("b");
    h.textContent = title;
    cap.append(h);
    for (const l of lines) {
      const d = document.createElement("span");
      d.className = "num";
      d.textContent = l;
      cap.append(d);
    }
    if (weight !== undefined) {
      const bar = document.createElement("span");
      bar.className = "w";
      const i = document.createElement("i");
      i.style.width = `${Math.max(0, 100 * (isFinite(weight) ? weight : 0) / maxW)}%`;
      bar.append(i);
      cap.append(bar);
    }
    if (badge) {
      const g = document.createElement("span");
      g.className = "badge";
      g.textContent = badge;
      cap.append(g);
    }
    t.append(p, cap);
    return t;
  };
  for (const l of e.layers) {
    if (icam) {
      grid.append(tile(l.png, l.name,
        [`S=${fmt(l.score, 4)}  #${l.rank}`, `W=${fmt(l.weight, 3)}`],
        l.selected ? "selected" : "", l.selected ? "selected" : null, l.weight));
    } else {
      grid.append(tile(l.png, l.name, [`${l.size[0]}×${l.size[1]}`], "", null));
    }
  }
  grid.append(tile(e.fused_png, icam ? "I-CAM (fused)" : methodName(e.method),
    [e.class_label, `p=${e.prob.toFixed(3)}`], "fused", "final"));
}

// ---------------------------------------------------------------------------------------
// Controls

function setImage(file, name) {
  // The server's limit and message, without sending the file.
  const max = state.model.limits.max_upload_bytes;
  if (file.size > max) {
    showError(`${name || file.name || "image"}: the upload is larger than ${Math.floor(max / 1e6)} MB`);
    return;
  }
  state.file = file;
  state.fileName = name || file.name || "image";
  state.cls = null;
  state.current = null;
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = URL.createObjectURL(file);
  $("photo").src = state.photoUrl;
  $("heat").removeAttribute("src");
  $("compare").textContent = "";
  run();
}

function syncSliders() {
  $("alpha-out").textContent = Number($("alpha").value).toFixed(2);
  $("threshold-out").textContent = Number($("threshold").value).toFixed(2);
  const icam = $("method").value === "icam";
  $("icam-only").classList.toggle("off", !icam);
  for (const id of ["alpha", "threshold"]) $(id).disabled = !icam;
  $("method-hint").textContent = icam
    ? "α and T apply to I-CAM; changing them explains again."
    : `${methodName($("method").value)} has no α or T.`;
}

/** The sliders at the defaults of the chosen preset (or of a request without options). */
function presetDefaults() {
  const m = state.model;
  const p = m.presets.find((x) => x.name === $("preset").value);
  const cfg = (p && p.config) || m.defaults.config;
  $("alpha").value = cfg.alpha;
  $("threshold").value = cfg.threshold;
  syncSliders();
}

function buildMoreOptions(options) {
  const box = $("more-options");
  for (const o of options) {
    if (OWN_CONTROLS.has(o.name)) continue;
    const label = document.createElement("label");
    label.title = o.help || "";
    const name = document.createElement("span");
    name.textContent = o.name;
    let input;
    if (o.flag) {
      input = document.createElement("input");
      input.type = "checkbox";
    } else if (o.values.length) {
      input = document.createElement("select");
      const blank = document.createElement("option");
      blank.value = "";
      blank.textContent = o.default ? `default (${o.default})` : "default";
      input.append(blank);
      for (const v of o.values) {
        const opt = document.createElement("option");
        opt.value = v;
        opt.textContent = v;
        input.append(opt);
      }
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.placeholder = o.default ? `default ${o.default}` : "default";
    }
    input.dataset.option = o.name;
    input.addEventListener("change", () => run());
    label.append(name, input);
    box.append(label);
  }
}

async function init() {
  let m;
  try {
    const r = await fetch("/api/model");
    m = await r.json();
    if (!r.ok) throw new Error(m.error || r.statusText);
  } catch (e) {
    showError(`cannot reach the server: ${e.message}`);
    return;
  }
  state.model = m;
  $("model-info").textContent = `${m.model} · ${m.arch} · ${m.num_classes} classes · ${m.candidate_layers.length} candidate layers`;
  for (const name of m.methods) {
    const o = document.createElement("option");
    o.value = name;
    o.textContent = methodName(name);
    $("method").append(o);
    const l = document.createElement("label");
    const c = document.createElement("input");
    c.type = "checkbox";
    c.value = name;
    c.checked = name === "icam" || name === "gradcam";
    l.append(c, methodName(name));
    $("compare-methods").append(l);
  }
  $("method").value = m.defaults.method;
  if (m.presets.length) {
    $("preset-row").hidden = false;
    for (const p of m.presets) {
      const o = document.createElement("option");
      o.value = p.name;
      o.textContent = p.name;
      $("preset").append(o);
    }
    if (m.defaults.config.preset) $("preset").value = m.defaults.config.preset;
  }
  presetDefaults();
  buildMoreOptions(m.options);

  $("method").addEventListener("change", () => { syncSliders(); run(); });
  $("preset").addEventListener("change", () => { presetDefaults(); run(); });
  for (const id of ["alpha", "threshold"]) {
    $(id).addEventListener("input", syncSliders);
    $(id).addEventListener("change", () => run());
  }
  $("opacity").addEventListener("input", () => { $("heat").style.opacity = $("opacity").value; });
  $("heat").style.opacity = $("opacity").value;

  const drop = $("drop");
  $("file").addEventListener("change", () => {
    const f = $("file").files[0];
    if (f) setImage(f);
  });
  drop.addEventListener("click", (ev) => {
    if (ev.target.id !== "example" && ev.target.tagName !== "LABEL") $("file").click();
  });
  drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") $("file").click(); });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    const f = ev.dataTransfer.files[0];
    if (f) setImage(f);
  });
  $("example").addEventListener("click", (ev) => {
    ev.stopPropagation();
    loadExample();
  });
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => {
      for (const x of document.querySelectorAll(".tabs button")) {
        x.setAttribute("aria-selected", String(x === b));
        $(`tab-${x.dataset.tab}`).hidden = x !== b;
      }
    });
  }
  $("compare-run").addEventListener("click", compare);
  busy(false);
  fromLink();
}

async function loadExample() {
  const r = await fetch("/example.png");
  setImage(await r.blob(), "skimage_chelsea.png");
}

/** A link may set the method, α and T and open the example photo:
 * `/#example&method=icam&alpha=0.1` (as the README's screenshot was taken). */
function fromLink() {
  const h = new URLSearchParams(location.hash.slice(1));
  const method = h.get("method");
  if (method && [...$("method").options].some((o) => o.value === method)) $("method").value = method;
  for (const id of ["alpha", "threshold"]) if (h.has(id)) $(id).value = h.get(id);
  syncSliders();
  if (h.has("example")) loadExample();
}

init();

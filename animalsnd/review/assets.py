"""The review page's HTML skeleton, style sheet and script, written inline into ``index.html``.

Placeholders in :data:`HTML`: ``__TITLE__``, ``__RUN__``, ``__SUMMARY__``, ``__CSS__``,
``__MANIFEST__`` (the cards as JSON) and ``__JS__``.
"""

CSS = r""":root { --bg: #f6f6f4; --fg: #1d1d1f; --mut: #6b6b70; --acc: #1f7a3a; --rej: #b3261e; --cor: #8a5a00; --cur: #2456d3; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid #ddd; padding: 8px 14px; }
h1 { font-size: 16px; margin: 0 0 6px; }
h1 small { font-weight: normal; color: var(--mut); }
.controls { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
.controls label { color: var(--mut); }
.controls input[type=number] { width: 5em; }
#progress { font-weight: 600; }
#per-class, #saved { color: var(--mut); font-size: 12px; }
.track { height: 4px; background: #eee; margin-top: 6px; }
#bar { height: 4px; background: var(--acc); width: 0; }
#help { background: #fffbe6; border: 1px solid #e8d98a; padding: 6px 10px; margin-top: 6px; }
#help kbd { border: 1px solid #bbb; border-radius: 3px; padding: 0 4px; background: #fff; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(412px, 1fr)); gap: 10px; padding: 12px 14px; }
.card { background: #fff; border: 2px solid #e2e2e2; border-radius: 6px; padding: 6px; position: relative; }
.card[hidden] { display: none; }
.card.cur { border-color: var(--cur); box-shadow: 0 0 0 2px rgba(36, 86, 211, .25); }
.card.accepted { background: #eef8f0; }
.card.rejected { background: #fbeeed; }
.card.corrected { background: #fdf5e4; }
.spec { position: relative; width: 400px; height: 120px; background: #000; cursor: pointer; }
.spec img { display: block; width: 400px; height: 120px; }
.spec .head { position: absolute; top: 0; bottom: 0; width: 2px; background: #3cf; display: none; left: 0; }
.spec .fr { position: absolute; top: 2px; left: 4px; color: #ddd; font-size: 11px; }
.meta { margin: 4px 0; overflow: hidden; }
.lab { font-size: 15px; }
.conf { font-variant-numeric: tabular-nums; }
.tag { font-size: 11px; border-radius: 3px; padding: 0 4px; margin-left: 4px; background: #eee; color: var(--mut); }
.tag.top { background: #e6eefc; } .tag.random { background: #f2e8fb; }
.dec { font-weight: 600; margin-left: 6px; }
.accepted .dec { color: var(--acc); } .rejected .dec { color: var(--rej); } .corrected .dec { color: var(--cor); }
.file { color: var(--mut); display: inline-block; max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.time, .top { color: var(--mut); font-size: 12px; }
.acts button { font: inherit; padding: 2px 8px; }
.chooser { position: absolute; left: 6px; right: 6px; bottom: 40px; background: #fff; border: 1px solid #999; padding: 6px; display: flex; flex-wrap: wrap; gap: 4px; z-index: 1; }
#export-csv { display: none; }
"""

HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Review: __TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<header>
<h1>Review: __TITLE__ <small>run __RUN__ · __SUMMARY__</small></h1>
<div class="controls">
<span id="progress"></span>
<label>class <select id="f-class"></select></label>
<label>file <select id="f-file"></select></label>
<label>confidence <input id="f-min" type="number" min="0" max="1" step="0.05" placeholder="0"> to <input id="f-max" type="number" min="0" max="1" step="0.05" placeholder="1"></label>
<label>status <select id="f-status"><option value="">all</option><option value="undecided">undecided</option><option value="accepted">accepted</option><option value="rejected">rejected</option><option value="corrected">relabelled</option></select></label>
<label>sample <select id="f-sample"><option value="">all</option><option value="top">top</option><option value="random">random</option><option value="all">every detection</option></select></label>
<label>sort <select id="f-sort"><option value="class">class, confidence</option><option value="conf-desc">confidence, high first</option><option value="conf-asc">confidence, low first</option><option value="time">file, time</option></select></label>
<button id="export" title="e">Export decisions CSV</button>
<label>load CSV <input id="load" type="file" accept=".csv,text/csv"></label>
<button id="help-toggle" title="?">keys</button>
</div>
<div><span id="per-class"></span> <span id="saved"></span></div>
<div id="help" hidden>
<kbd>a</kbd> accept · <kbd>r</kbd> reject · <kbd>c</kbd> relabel, then <kbd>1</kbd>-<kbd>9</kbd> (<kbd>Esc</kbd> cancels) · <kbd>u</kbd> undo ·
<kbd>j</kbd>/<kbd>↓</kbd> next · <kbd>k</kbd>/<kbd>↑</kbd> previous · <kbd>space</kbd> play/pause · click the spectrogram to play from there ·
<kbd>e</kbd> export · <kbd>?</kbd> this help. Decisions are kept in this browser (per review run) until exported.
</div>
<div class="track"><div id="bar"></div></div>
</header>
<main id="cards"></main>
<audio id="player" preload="none"></audio>
<textarea id="export-csv" readonly></textarea>
<script type="application/json" id="manifest">__MANIFEST__</script>
<script>__JS__</script>
</body>
</html>
"""

JS = r""""use strict";
(function () {
  const t0 = performance.now();
  const M = JSON.parse(document.getElementById("manifest").textContent);
  const KEY = "animalsnd-review:" + M.run;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const fmt = (x) => Number(x).toFixed(2);
  const cards = M.cards;
  const byId = new Map(cards.map((c, i) => [c.id, i]));
  let state = {};
  try { state = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { state = {}; }
  let order = cards.map((_, i) => i);
  let visible = order.slice();
  let cur = -1;  // index into visible
  let currentCard = -1;  // index into cards
  let chooser = null;
  const player = $("player");
  let playing = -1;

  // ---------------------------------------------------------------- cards, in one pass
  const html = [];
  for (let i = 0; i < cards.length; i++) {
    const c = cards[i];
    const top = (c.top || []).slice(0, 3).map((p) => esc(p[0]) + " " + Number(p[1]).toFixed(2)).join(", ");
    html.push(
      '<article class="card" data-i="' + i + '" id="c-' + c.id + '">' +
      '<div class="spec" data-act="seek"><img loading="lazy" decoding="async" width="400" height="120" alt="spectrogram" src="' +
      esc(c.image) + '"><div class="head"></div>' +
      '<span class="fr">' + Math.round(c.fmax / 100) / 10 + ' kHz</span></div>' +
      '<div class="meta"><b class="lab">' + esc(c.label) + '</b> <span class="conf">' + Number(c.confidence).toFixed(3) +
      '</span> <span class="tag ' + c.sample + '">' + c.sample + '</span><span class="dec"></span><br>' +
      '<span class="file" title="' + esc(c.file) + '">' + esc(c.file) + '</span> <span class="time">' + fmt(c.start_s) + "–" + fmt(c.end_s) + " s</span>" +
      (top ? '<br><span class="top">' + top + "</span>" : "") + "</div>" +
      '<div class="acts"><button data-act="play" title="play (space)">▶</button>' +
      '<button data-act="accepted" title="accept (a)">✓ accept</button>' +
      '<button data-act="rejected" title="reject (r)">✗ reject</button>' +
      '<button data-act="relabel" title="relabel (c, then 1-9)">✎ relabel</button>' +
      '<button data-act="clear" title="undo (u)">↺</button></div></article>');
  }
  const grid = $("cards");
  grid.innerHTML = html.join("");
  const nodes = Array.from(grid.children);

  // ---------------------------------------------------------------- filters
  const fClass = $("f-class"), fFile = $("f-file"), fMin = $("f-min"), fMax = $("f-max"),
    fStatus = $("f-status"), fSample = $("f-sample"), fSort = $("f-sort");
  const opt = (v, label) => '<option value="' + esc(v) + '">' + esc(label) + "</option>";
  const labels = Array.from(new Set(cards.map((c) => c.label))).sort();
  fClass.innerHTML = opt("", "all classes") + labels.map((l) => opt(l, l)).join("");
  const files = Array.from(new Set(cards.map((c) => c.file))).sort();
  fFile.innerHTML = opt("", "all files") + files.map((f) => opt(f, f)).join("");

  function decisionOf(c) { return state[c.id] ? state[c.id].d : ""; }

  function apply() {
    const cl = fClass.value, fi = fFile.value, st = fStatus.value, sa = fSample.value;
    const lo = fMin.value === "" ? -Infinity : Number(fMin.value);
    const hi = fMax.value === "" ? Infinity : Number(fMax.value);
    const key = fSort.value;
    const cmp = {
      "conf-desc": (a, b) => cards[b].confidence - cards[a].confidence,
      "conf-asc": (a, b) => cards[a].confidence - cards[b].confidence,
      "time": (a, b) => cards[a].file.localeCompare(cards[b].file) || cards[a].start_s - cards[b].start_s,
      "class": (a, b) => cards[a].label.localeCompare(cards[b].label) || cards[b].confidence - cards[a].confidence,
    }[key];
    order = cards.map((_, i) => i).sort(cmp);
    const frag = document.createDocumentFragment();
    visible = [];
    for (const i of order) {
      const c = cards[i], d = decisionOf(c);
      const show = (!cl || c.label === cl) && (!fi || c.file === fi) && c.confidence >= lo && c.confidence <= hi &&
        (!sa || c.sample === sa) && (!st || (st === "undecided" ? !d : d === st));
      nodes[i].hidden = !show;
      if (show) visible.push(i);
      frag.appendChild(nodes[i]);
    }
    grid.appendChild(frag);
    const at = cur >= 0 ? visible.indexOf(currentCard) : -1;
    select(at >= 0 ? at : (visible.length ? 0 : -1), false);
    counts();
  }

  // ---------------------------------------------------------------- decisions
  function paint(i) {
    const c = cards[i], s = state[c.id], n = nodes[i];
    n.classList.remove("accepted", "rejected", "corrected");
    const box = n.querySelector(".dec");
    if (!s) { box.textContent = ""; return; }
    n.classList.add(s.d);
    box.textContent = s.d === "corrected" ? " → " + s.to : s.d === "accepted" ? " ✓" : " ✗";
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { $("saved").textContent = "not saved: " + e.message; return; }
    $("saved").textContent = "saved in this browser";
    refreshExport();
  }
  function decide(i, d, to) {
    if (i < 0) return;
    const c = cards[i];
    if (d === "accepted" && c.label === "unknown") { openChooser(i); return; }  // no class to accept: pick one
    if (d === "clear") delete state[c.id];
    else if (d === "corrected" && to === c.label) state[c.id] = {d: "accepted", t: Date.now()};
    else state[c.id] = to ? {d: d, to: to, t: Date.now()} : {d: d, t: Date.now()};
    paint(i); save(); counts();
    if (d !== "clear") move(1);
  }
  function counts() {
    let a = 0, r = 0, k = 0;
    const per = {};
    for (const c of cards) {
      const d = decisionOf(c);
      per[c.label] = per[c.label] || [0, 0];
      per[c.label][1]++;
      if (d) per[c.label][0]++;
      if (d === "accepted") a++; else if (d === "rejected") r++; else if (d === "corrected") k++;
    }
    const done = a + r + k;
    $("progress").textContent = "reviewed " + done + " of " + cards.length + " (accepted " + a + ", rejected " + r +
      ", relabelled " + k + ") · showing " + visible.length;
    $("per-class").textContent = Object.keys(per).sort().map((l) => l + " " + per[l][0] + "/" + per[l][1]).join(" · ");
    $("bar").style.width = (cards.length ? 100 * done / cards.length : 0) + "%";
  }

  // ---------------------------------------------------------------- navigation, audio
  function select(at, scroll) {
    if (currentCard >= 0) nodes[currentCard].classList.remove("cur");
    cur = at;
    currentCard = at >= 0 ? visible[at] : -1;
    if (currentCard >= 0) {
      nodes[currentCard].classList.add("cur");
      if (scroll !== false) nodes[currentCard].scrollIntoView({block: "nearest"});
    }
  }
  function move(step) {
    if (!visible.length) return;
    select(Math.max(0, Math.min(visible.length - 1, cur + step)));
  }
  function play(i, frac) {
    if (i < 0) return;
    const c = cards[i];
    if (playing === i && frac === undefined) {
      if (player.paused) player.play().catch(() => {}); else player.pause();
      return;
    }
    if (playing !== i) { player.src = c.audio; playing = i; }
    const at = frac === undefined ? 0 : frac * (c.clip_end_s - c.clip_start_s);
    if (player.readyState >= 1) player.currentTime = at;
    else player.addEventListener("loadedmetadata", () => { player.currentTime = at; }, {once: true});
    player.play().catch(() => {});  // starts loading too (the player preloads nothing)
  }
  player.addEventListener("timeupdate", () => {
    if (playing < 0) return;
    const c = cards[playing], head = nodes[playing].querySelector(".head");
    head.style.left = (100 * player.currentTime / (c.clip_end_s - c.clip_start_s)) + "%";
    head.style.display = "block";
  });
  player.addEventListener("ended", () => { if (playing >= 0) nodes[playing].querySelector(".head").style.display = "none"; });

  function openChooser(i) {
    closeChooser();
    if (i < 0) return;
    const box = document.createElement("div");
    box.className = "chooser";
    box.innerHTML = M.classes.map((l, k) => '<button data-to="' + esc(l) + '">' + (k < 9 ? (k + 1) + " " : "") + esc(l) + "</button>").join("") +
      '<button data-to="">esc</button>';
    box.addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      e.stopPropagation();
      const to = b.dataset.to;
      closeChooser();
      if (to) decide(i, "corrected", to);
    });
    nodes[i].appendChild(box);
    chooser = {i: i, box: box};
  }
  function closeChooser() { if (chooser) { chooser.box.remove(); chooser = null; } }

  grid.addEventListener("click", (e) => {
    const n = e.target.closest(".card");
    if (!n || e.target.closest(".chooser")) return;
    const i = Number(n.dataset.i);
    const at = visible.indexOf(i);
    if (at >= 0) select(at, false);
    const el = e.target.closest("[data-act]");
    if (!el) return;
    const act = el.dataset.act;
    if (el.tagName === "BUTTON") el.blur();  // keys go to the page, not to a focused button
    if (act === "play") play(i);
    else if (act === "seek") { const r = el.getBoundingClientRect(); play(i, (e.clientX - r.left) / r.width); }
    else if (act === "relabel") openChooser(i);
    else decide(i, act);
  });

  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (chooser) {
      const n = k === "0" ? 10 : Number(k);
      if (k === "Escape") closeChooser();
      else if (n >= 1 && n <= M.classes.length && n <= 10) { const i = chooser.i; closeChooser(); decide(i, "corrected", M.classes[n - 1]); }
      e.preventDefault();
      return;
    }
    const act = {a: "accepted", r: "rejected", u: "clear"}[k];
    if (act) decide(currentCard, act);
    else if (k === "c" || k === "l") openChooser(currentCard);
    else if (k === "j" || k === "ArrowDown" || k === "n") move(1);
    else if (k === "k" || k === "ArrowUp" || k === "p") move(-1);
    else if (k === " ") play(currentCard);
    else if (k === "e") download();
    else if (k === "?") $("help").hidden = !$("help").hidden;
    else return;
    e.preventDefault();
  });

  // ---------------------------------------------------------------- export / load
  const COLS = ["run", "id", "file", "start_s", "end_s", "label", "confidence", "sample", "decision", "corrected_label"];
  const q = (v) => { const s = String(v == null ? "" : v); return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
  function csvText() {
    const lines = [COLS.join(",")];
    for (const c of cards) {
      const s = state[c.id];
      lines.push([M.run, c.id, c.file, c.start_s, c.end_s, c.label, c.confidence, c.sample,
        s ? s.d : "", s && s.d === "corrected" ? s.to : ""].map(q).join(","));
    }
    return lines.join("\n") + "\n";
  }
  function refreshExport() { $("export-csv").value = csvText(); }
  function download() {
    const text = csvText();
    $("export-csv").value = text;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
    a.download = "decisions-" + M.run + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  function parseCsv(text) {
    const rows = []; let row = [], f = "", inq = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inq) { if (ch === '"') { if (text[i + 1] === '"') { f += '"'; i++; } else inq = false; } else f += ch; }
      else if (ch === '"') inq = true;
      else if (ch === ",") { row.push(f); f = ""; }
      else if (ch === "\n") { row.push(f.replace(/\r$/, "")); rows.push(row); row = []; f = ""; }
      else f += ch;
    }
    if (f || row.length) { row.push(f); rows.push(row); }
    return rows;
  }
  function load(text, name) {
    const rows = parseCsv(text), head = rows.shift() || [];
    const col = (n) => head.indexOf(n);
    if (col("run") < 0 || col("decision") < 0) { alert(name + ": not a decisions file of this page"); return; }
    let n = 0, other = 0;
    for (const r of rows) {
      if (r[col("run")] !== M.run) { other++; continue; }
      const i = byId.get(r[col("id")]), d = r[col("decision")];
      if (i === undefined || !d) continue;
      state[cards[i].id] = d === "corrected" ? {d: d, to: r[col("corrected_label")], t: Date.now()} : {d: d, t: Date.now()};
      paint(i); n++;
    }
    save(); counts();
    $("saved").textContent = "loaded " + n + " decision(s) from " + name + (other ? "; " + other + " row(s) of another review run ignored" : "");
  }
  $("export").addEventListener("click", download);
  $("load").addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (f) f.text().then((t) => load(t, f.name));
    e.target.value = "";
  });
  for (const el of [fClass, fFile, fMin, fMax, fStatus, fSample, fSort]) el.addEventListener("change", apply);
  for (const el of [fMin, fMax]) el.addEventListener("input", apply);
  $("help-toggle").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });

  for (let i = 0; i < cards.length; i++) if (state[cards[i].id]) paint(i);
  apply();
  refreshExport();
  window.review = {ready_ms: performance.now() - t0, cards: cards.length, csv: csvText, load: load};
  document.body.dataset.ready = "1";
})();
"""

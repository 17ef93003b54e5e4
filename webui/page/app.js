// The torfs web page: draws the state /api/events pushes (mount.Status).
// Everything from the server goes into the page as text, never as HTML.
"use strict";

(function () {
  // The page's query string goes along to the API and nowhere else: it
  // may carry an access token, which the page never shows.
  const query = location.search;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  function bytes(n) {
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
  }
  const rate = (n) => bytes(n) + "/s";
  const pct = (a, b) => (b > 0 ? (100 * a / b).toFixed(1) : "100.0") + "%";

  // Piece states, in the order a map cell made of several pieces shows
  // them: one piece being downloaded or wanted is worth seeing.
  const codes = { v: 0, d: 1, w: 2, e: 3, ".": 4 };
  const cssVars = ["--v", "--d", "--w", "--e", "--m"];
  function colors() {
    const cs = getComputedStyle(document.documentElement);
    return cssVars.map((v) => cs.getPropertyValue(v).trim());
  }

  // decode expands a run-length encoded piece map ("3v.2d") into one
  // state code per piece.
  function decode(map, n) {
    const out = new Uint8Array(n).fill(codes["."]);
    const re = /(\d*)([^\d])/g;
    let i = 0, m;
    while ((m = re.exec(map)) !== null && i < n) {
      const run = m[1] === "" ? 1 : parseInt(m[1], 10);
      const c = codes[m[2]] ?? codes["."];
      out.fill(c, i, Math.min(n, i + run));
      i += run;
    }
    return out;
  }

  // cellState is the state a cell covering states[a:b] shows: downloading,
  // then wanted, then whatever most of its pieces are.
  function cellState(states, a, b) {
    const count = [0, 0, 0, 0, 0];
    for (let i = a; i < b; i++) count[states[i]]++;
    if (count[1]) return 1;
    if (count[2]) return 2;
    let best = 4;
    for (const s of [0, 3, 4]) if (count[s] > count[best]) best = s;
    return best;
  }

  // drawGrid draws a torrent's pieces as a grid of cells, several pieces a
  // cell when they do not fit in maxHeight.
  function drawGrid(canvas, states, maxHeight) {
    const n = states.length;
    const w = canvas.clientWidth || 300;
    let cell = Math.floor(Math.sqrt((w * maxHeight) / Math.max(n, 1)));
    cell = Math.max(3, Math.min(14, cell));
    const cols = Math.max(1, Math.floor(w / cell));
    const per = Math.max(1, Math.ceil(n / (cols * Math.floor(maxHeight / cell))));
    const cells = Math.ceil(n / per);
    const rows = Math.max(1, Math.ceil(cells / cols));
    const h = rows * cell;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = h + "px";
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const col = colors();
    const gap = cell >= 6 ? 1 : 0;
    for (let k = 0; k < cells; k++) {
      ctx.fillStyle = col[cellState(states, k * per, Math.min(n, (k + 1) * per))];
      ctx.fillRect((k % cols) * cell, Math.floor(k / cols) * cell, cell - gap, cell - gap);
    }
    canvas.title = n + " pieces" + (per > 1 ? ", " + per + " a cell" : "");
    // What the map was drawn from, for tests to compare with the counts.
    canvas.dataset.verified = states.reduce((a, s) => a + (s === 0 ? 1 : 0), 0);
  }

  // drawBar draws a file's pieces as a one-line bar.
  function drawBar(canvas, states) {
    const n = states.length;
    const w = canvas.clientWidth || 300;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(8 * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const col = colors();
    if (n === 0) {
      ctx.fillStyle = col[0];
      ctx.fillRect(0, 0, w, 8);
      return;
    }
    const slots = Math.min(n, Math.floor(w));
    for (let k = 0; k < slots; k++) {
      const a = Math.floor((k * n) / slots), b = Math.max(a + 1, Math.floor(((k + 1) * n) / slots));
      ctx.fillStyle = col[cellState(states, a, b)];
      ctx.fillRect((k * w) / slots, 0, Math.ceil(w / slots), 8);
    }
  }

  async function copy(text, input, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      // No clipboard API outside a secure context (plain http to
      // another machine): copy the selected field the old way.
      input.focus();
      input.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(() => { button.textContent = "Copy"; button.classList.remove("done"); }, 1500);
  }

  function meter(bar, used, budget) {
    bar.style.width = budget > 0 ? Math.min(100, (100 * used) / budget) + "%" : "0";
    bar.parentElement.classList.toggle("full", budget > 0 && used >= budget);
  }
  const cacheText = (used, budget) => bytes(used) + " of " + (budget > 0 ? bytes(budget) : "unlimited");

  // Cards are built once per torrent and updated in place, so a stream
  // URL being selected or copied is not replaced under the user.
  const cards = new Map();

  function fileRow(f) {
    const li = el("li");
    const head = el("div", "file-head");
    head.append(el("span", "path", f.path));
    const prog = el("span", "muted");
    head.append(prog);
    const bar = el("canvas", "bar");
    const url = el("div", "url");
    const input = el("input", "stream-url");
    input.readOnly = true;
    input.value = location.origin + f.url;
    input.setAttribute("aria-label", "stream URL of " + f.path);
    const button = el("button", "copy", "Copy");
    button.type = "button";
    button.addEventListener("click", () => copy(input.value, input, button));
    url.append(input, button);
    li.append(head, bar, url);
    return { li, prog, bar };
  }

  function newCard(t) {
    const root = el("section", "card torrent");
    root.dataset.infohash = t.info_hash;
    const h = el("h2", null, t.name);
    const hash = el("div", "hash", t.info_hash);
    const stats = el("div", "stats");
    const verified = el("b", "verified-pieces");
    const total = el("b", "total-pieces");
    const vp = el("span");
    vp.append(verified, " / ", total, " pieces verified (");
    const vpct = el("span");
    vp.append(vpct, ")");
    const down = el("b"), up = el("b"), npeers = el("b"), extra = el("span", "muted");
    const ds = el("span"); ds.append("↓ ", down);
    const us = el("span"); us.append("↑ ", up);
    const ps = el("span"); ps.append(npeers, " peers");
    stats.append(vp, ds, us, ps, extra);
    const map = el("canvas", "map");
    const cache = el("div", "cache");
    const cbar = el("div");
    const m = el("div", "meter"); m.append(cbar);
    const ctext = el("span");
    cache.append(el("span", "label", "cache"), m, ctext);
    const full = el("div", "warn");
    const files = el("ul", "files");
    const fileRows = t.files.map((f) => { const r = fileRow(f); files.append(r.li); return r; });
    const det = el("details");
    det.open = true;
    const sum = el("summary", null, "Peers");
    const wrap = el("div", "table");
    const table = el("table");
    const thead = el("tr");
    for (const [c, num] of [["address"], ["client"], ["transport"], ["↓", 1], ["↑", 1], ["have", 1], ["req", 1], ["flags"]]) {
      thead.append(el("th", num ? "num" : null, c));
    }
    const tbody = el("tbody");
    table.append(el("thead"), tbody);
    table.tHead.append(thead);
    wrap.append(table);
    det.append(sum, wrap);
    root.append(h, hash, stats, map, cache, full, files, det);
    return { root, verified, total, vpct, down, up, npeers, extra, map, cbar, ctext, full, fileRows, tbody, sum };
  }

  function peerRow(p, pieces) {
    const tr = el("tr");
    const flags = [p.seed ? "seed" : "", p.choking ? "choking us" : "", p.choked ? "choked" : "",
      p.interested ? "interested" : ""].filter(Boolean).join(", ");
    const cells = [
      [p.addr], [p.client || "?"], [p.transport + (p.encrypted ? "+rc4" : "")],
      [rate(p.download_rate), 1], [rate(p.upload_rate), 1],
      [pct(p.pieces, pieces), 1], [String(p.requests), 1], [flags],
    ];
    for (const [text, num] of cells) tr.append(el("td", num ? "num" : null, text));
    return tr;
  }

  function updateCard(c, t) {
    const n = t.piece_counts.verified + t.piece_counts.downloading + t.piece_counts.wanted +
      t.piece_counts.evicted + t.piece_counts.missing;
    c.verified.textContent = t.piece_counts.verified;
    c.total.textContent = n;
    c.vpct.textContent = pct(t.verified, t.length) + " of " + bytes(t.length);
    c.down.textContent = rate(t.download_rate);
    c.up.textContent = rate(t.upload_rate);
    c.npeers.textContent = t.peers.length;
    const extra = [];
    if (t.piece_counts.downloading) extra.push(t.piece_counts.downloading + " downloading");
    if (t.piece_counts.wanted) extra.push(t.piece_counts.wanted + " wanted");
    if (t.readers) extra.push(t.readers + (t.readers === 1 ? " stream" : " streams"));
    if (t.stalls) extra.push(t.stalls + " stalled reads");
    if (t.evictions) extra.push(t.evictions + " evicted");
    c.extra.textContent = extra.join(" · ");
    const states = decode(t.piece_map, n);
    drawGrid(c.map, states, 160);
    meter(c.cbar, t.cache_used, t.cache_budget);
    c.ctext.textContent = cacheText(t.cache_used, t.cache_budget);
    c.full.textContent = t.cache_disk_full ? "⚠ " + t.cache_disk_full : "";
    t.files.forEach((f, i) => {
      const r = c.fileRows[i];
      if (!r) return;
      r.prog.textContent = pct(f.verified, f.length) + " of " + bytes(f.length);
      drawBar(r.bar, decode(f.piece_map, runs(f.piece_map)));
    });
    c.sum.textContent = "Peers (" + t.peers.length + ")";
    const rows = t.peers.slice().sort((a, b) => b.download_rate - a.download_rate || a.addr.localeCompare(b.addr))
      .map((p) => peerRow(p, n));
    c.tbody.replaceChildren(...rows);
  }

  // runs counts the pieces a run-length encoded map holds.
  function runs(map) {
    let n = 0, m;
    const re = /(\d*)([^\d])/g;
    while ((m = re.exec(map)) !== null) n += m[1] === "" ? 1 : parseInt(m[1], 10);
    return n;
  }

  let last = null;
  function render(st) {
    last = st;
    let down = 0, up = 0;
    const torrents = st.torrents || [];
    for (const t of torrents) { down += t.download_rate; up += t.upload_rate; }
    $("down").textContent = rate(down);
    $("up").textContent = rate(up);
    $("ntorrents").textContent = torrents.length;
    $("listen").textContent = st.listen;
    meter($("cachebar"), st.cache_used, st.cache_budget);
    $("cachetext").textContent = cacheText(st.cache_used, st.cache_budget) + (st.cache_shared ? " (shared)" : "");

    const magnets = st.resolving || [];
    $("resolving").hidden = magnets.length === 0;
    $("magnets").replaceChildren(...magnets.map((r) => {
      const li = el("li");
      li.append(el("b", null, r.name), " ", el("span", "hash", r.info_hash), el("br"),
        el("span", r.state === "failed" ? "warn" : null, r.message));
      return li;
    }));
    $("empty").hidden = torrents.length > 0 || magnets.length > 0;

    const seen = new Set();
    const box = $("torrents");
    torrents.forEach((t, i) => {
      seen.add(t.info_hash);
      let c = cards.get(t.info_hash);
      if (!c) {
        c = newCard(t);
        cards.set(t.info_hash, c);
      }
      // In the server's order, moving a card only when it is out of
      // place: a moved card loses the focus and selection of its fields.
      if (box.children[i] !== c.root) box.insertBefore(c.root, box.children[i] || null);
      updateCard(c, t);
    });
    for (const [k, c] of cards) {
      if (!seen.has(k)) { c.root.remove(); cards.delete(k); }
    }
  }

  function status(text, cls) {
    const c = $("conn");
    c.textContent = text;
    c.className = "conn " + cls;
  }

  function start() {
    if (!window.EventSource) {
      // Poll instead.
      const poll = () => fetch("api/state" + query).then((r) => r.json()).then((st) => {
        status("live", "live"); render(st);
      }).catch(() => status("disconnected", "down")).finally(() => setTimeout(poll, 1000));
      poll();
      return;
    }
    const es = new EventSource("api/events" + query);
    es.onopen = () => status("live", "live");
    es.onerror = () => status("reconnecting…", "down");
    es.onmessage = (ev) => {
      try { render(JSON.parse(ev.data)); } catch (e) { status("bad data: " + e.message, "down"); }
    };
  }

  window.addEventListener("resize", () => { if (last) render(last); });
  start();
})();

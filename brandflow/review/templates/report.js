// brandflow review report: filters, sort, lazy thumbnails and the full-size view. Vanilla JS, no build step,
// no network: everything it needs is in this file (the detail and refs JSON blocks above).
(function () {
  "use strict";
  var $ = function (s, el) { return (el || document).querySelector(s); };
  var $$ = function (s, el) { return Array.prototype.slice.call((el || document).querySelectorAll(s)); };
  var detail = JSON.parse($("#detail").textContent);
  var refs = JSON.parse($("#refs").textContent);
  var grid = $("#grid"), cards = $$("#grid > .card"), rows = $("#rejected-rows");
  var f = { status: $("#f-status"), format: $("#f-format"), product: $("#f-product"), check: $("#f-check"), sort: $("#f-sort") };
  if ($("#f-market")) f.market = $("#f-market");  // only in a run of several markets

  // ---- thumbnails load as they come near the viewport: 1,000 cards do not decode 1,000 JPEGs up front
  var load = function (img) { if (img.dataset.src) { img.src = img.dataset.src; delete img.dataset.src; } };
  var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) { load(e.target); io.unobserve(e.target); } });
  }, { rootMargin: "800px 0px" }) : null;
  $$("img.thumb").forEach(function (img) { if (io) io.observe(img); else load(img); });

  // ---- filters and sort
  function matches(c) {
    var st = f.status.value, d = c.dataset;
    if (st === "attention" && d.attention !== "1") return false;
    if (st === "review" && d.review !== "1") return false;
    if (["held", "failed", "error", "published"].indexOf(st) >= 0 && d.status !== st) return false;
    if (f.format.value && d.format !== f.format.value) return false;
    if (f.product.value && d.product !== f.product.value) return false;
    if (f.market && f.market.value && d.locale !== f.market.value) return false;
    if (f.check.value && (" " + d.checks + " ").indexOf(" " + f.check.value + " ") < 0) return false;
    return true;
  }
  function score(c, missing) { return c.dataset.score === "" ? missing : parseFloat(c.dataset.score); }
  var sorters = {
    need: function (a, b) { return (b.dataset.attention - a.dataset.attention) || (a.dataset.rank - b.dataset.rank) || (score(a, 2) - score(b, 2)) || (a.dataset.i - b.dataset.i); },
    score: function (a, b) { return (score(a, -1) - score(b, -1)) || (a.dataset.i - b.dataset.i); },
    "score-desc": function (a, b) { return (score(b, -1) - score(a, -1)) || (a.dataset.i - b.dataset.i); },
    product: function (a, b) { return a.dataset.product.localeCompare(b.dataset.product) || (a.dataset.i - b.dataset.i); },
    market: function (a, b) { return a.dataset.locale.localeCompare(b.dataset.locale) || a.dataset.product.localeCompare(b.dataset.product) || (a.dataset.i - b.dataset.i); }
  };
  var lastSort = "need";
  function apply() {
    if (f.sort.value !== lastSort) {
      lastSort = f.sort.value;
      var frag = document.createDocumentFragment();
      cards.slice().sort(sorters[lastSort]).forEach(function (c) { frag.appendChild(c); });
      grid.appendChild(frag);
    }
    var shown = 0;
    cards.forEach(function (c) { var ok = matches(c); c.hidden = !ok; if (ok) shown++; });
    if (rows) rows.hidden = ["attention", "all"].indexOf(f.status.value) < 0;
    $("#shown").textContent = "showing " + shown + " of " + cards.length;
    $("#empty").hidden = shown > 0;
  }
  Object.keys(f).forEach(function (k) { f[k].addEventListener("change", function () { apply(); if (k === "status") history.replaceState(null, "", "#" + f.status.value); }); });
  function fromHash() {
    var h = location.hash.replace("#", "");
    if ($$("option", f.status).some(function (o) { return o.value === h; })) f.status.value = h;
    else if (h !== "rejected-rows") f.status.value = $("#summary .needs") ? "attention" : "all";
    apply();
  }
  $$("[data-market]").forEach(function (a) {  // the summary's market rows: everything in that market
    a.addEventListener("click", function (e) { e.preventDefault(); f.status.value = "all"; f.market.value = a.dataset.market; apply(); $("#filters").scrollIntoView(); });
  });
  $$("[data-filter]").forEach(function (a) {
    a.addEventListener("click", function (e) { e.preventDefault(); f.status.value = a.dataset.filter; apply(); history.replaceState(null, "", "#" + a.dataset.filter); $("#filters").scrollIntoView(); });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();

  // ---- the full-size view
  var viewer = $("#viewer"), vimg = $("#v-img"), svg = $("#v-svg"), current = null;
  var NS = "http://www.w3.org/2000/svg";
  function visible() { return cards.filter(function (c) { return !c.hidden; }).sort(function (a, b) { return a.compareDocumentPosition(b) & 2 ? 1 : -1; }); }
  function el(tag, attrs, text) { var n = document.createElementNS(NS, tag); for (var k in attrs) n.setAttribute(k, attrs[k]); if (text) n.textContent = text; return n; }
  function draw(d) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!d.w || !$("#v-boxes").checked) return;
    svg.setAttribute("viewBox", "0 0 " + d.w + " " + d.h);
    var px = d.w / (vimg.clientWidth || d.w);  // image pixels per screen pixel: labels stay 12 px on screen
    d.f.b.forEach(function (b) {
      var kind = b[0], cls = kind === "layout" || kind === "ocr" ? kind : "product";
      var r = el("rect", { x: b[2], y: b[3], width: Math.max(1, b[4] - b[2]), height: Math.max(1, b[5] - b[3]), "class": cls + (b[6] ? "" : " bad") });
      var t = el("title", {}, kind + (b[1] ? ": " + b[1] : "")); r.appendChild(t); svg.appendChild(r);
      if (kind !== "ocr" && b[1]) svg.appendChild(el("text", { x: b[2] + 3 * px, y: Math.max(14 * px, b[3] - 4 * px), "font-size": 12 * px }, b[1]));
    });
  }
  function open(card) {
    current = card;
    var i = card.dataset.i, d = detail[i], link = $("a.open", card), thumb = $("img.thumb", card);
    if (thumb) load(thumb);
    vimg.onload = function () { if (current === card) draw(d); };  // labels are sized for the laid-out image
    vimg.onerror = function () { vimg.onerror = null; if (thumb) vimg.src = thumb.src; };  // the run folder is not beside the report: the thumbnail
    vimg.src = link ? link.getAttribute("href") : "";
    vimg.alt = card.dataset.job;
    draw(d);
    $("#v-title").textContent = $(".title", card).textContent + " · " + card.dataset.format + " · " + $(".badge", card).textContent;
    var list = visible(), pos = list.indexOf(card);
    $("#v-pos").textContent = (pos + 1) + " of " + list.length;
    var rf = $("#v-refs"); rf.innerHTML = "";
    if (d.refs.length) {
      var h = document.createElement("h2"); h.textContent = "Reference packshot" + (d.refs.length > 1 ? "s" : ""); rf.appendChild(h);
      var box = document.createElement("div"); box.className = "refs";
      d.refs.forEach(function (ri) {
        var r = refs[ri], fig = document.createElement("figure"), img = document.createElement("img"), cap = document.createElement("figcaption");
        img.src = r.thumb || r.link || ""; img.alt = r.name; cap.textContent = r.role.replace("_", " ") + ": " + r.name;
        fig.appendChild(img); fig.appendChild(cap); box.appendChild(fig);
      });
      rf.appendChild(box);
    }
    var sw = $("#v-swatches"); sw.innerHTML = "";
    if (d.f.s.length) {
      var h2 = document.createElement("h2"); h2.textContent = "Colours"; sw.appendChild(h2);
      d.f.s.forEach(function (s) {
        var row = document.createElement("div"); row.className = "swrow" + (s.ok ? "" : " bad");
        var a = document.createElement("span"); a.className = "sw"; a.style.background = s.hex; row.appendChild(a);
        if (s.found) { var b = document.createElement("span"); b.className = "sw"; b.style.background = s.found; row.appendChild(b); }
        var txt = (s.name ? s.name + " " : "") + s.hex + (s.found ? " → found " + s.found : "") + (s.de != null ? " · ΔE00 " + (+s.de).toFixed(1) : "") + (s.cov != null ? " · " + (100 * s.cov).toFixed(1) + " %" : "");
        row.appendChild(document.createTextNode(txt)); sw.appendChild(row);
      });
    }
    var vc = $("#v-card"); vc.innerHTML = "";
    $$(".why, .decision, form.decide, details.numbers", card).forEach(function (n) { var c = n.cloneNode(true); if (c.tagName === "DETAILS") c.open = true; vc.appendChild(c); });
    viewer.hidden = false;
    $("#v-close").focus();
  }
  function step(k) { var list = visible(), pos = list.indexOf(current); if (list.length) open(list[(pos + k + list.length) % list.length]); }
  function close() { viewer.hidden = true; vimg.src = ""; if (current) { var a = $("a.open", current); if (a) a.focus(); } }
  grid.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a.open") : null;
    if (a) { e.preventDefault(); open(a.closest(".card")); }
  });
  $("#v-close").addEventListener("click", close);
  $("#v-prev").addEventListener("click", function () { step(-1); });
  $("#v-next").addEventListener("click", function () { step(1); });
  $("#v-boxes").addEventListener("change", function () { if (current) draw(detail[current.dataset.i]); });
  document.addEventListener("keydown", function (e) {
    if (viewer.hidden || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    if (e.key === "Escape") close(); else if (e.key === "ArrowRight") step(1); else if (e.key === "ArrowLeft") step(-1);
  });

  // ---- review mode (served by `brandflow review`): decide without reloading; the forms work without JS too
  var nsel = $("#nsel"), msg = $("#msg");
  if (nsel) document.addEventListener("change", function (e) { if (e.target.classList && e.target.classList.contains("sel")) nsel.textContent = $$(".sel:checked").length; });
  function decided(job, verdict, by, reason) {
    var card = cards.filter(function (c) { return c.dataset.job === job; })[0];
    if (!card) return;
    var line = document.createElement("div");
    line.className = "decision draft d-" + verdict;
    line.textContent = verdict + " by " + by + (reason ? ": " + reason : "") + " (sent with “Send decisions”)";
    var form = $("form.decide", card), sel = $(".sel", card);
    if (form) form.parentNode.replaceChild(line, form); else card.appendChild(line);
    if (sel) sel.remove();
    card.dataset.review = "0";
  }
  if (msg && window.fetch && window.URLSearchParams) document.addEventListener("submit", function (e) {
    var form = e.target, btn = e.submitter;
    if (!btn || (btn.getAttribute("formaction") || form.getAttribute("action")) !== "decide") return;  // "send" reloads the page
    e.preventDefault();
    var body = new URLSearchParams(new FormData(form, btn));
    fetch("decide", { method: "POST", body: body, headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        msg.textContent = res.message; msg.className = "msg " + (res.ok ? "ok" : "err");
        if (!res.ok) return;
        var tally = $("#tally");
        if (tally) {
          tally.dataset.decided = +tally.dataset.decided + res.decided.length;
          tally.dataset.undecided = Math.max(0, +tally.dataset.undecided - res.decided.length);
          tally.textContent = tally.dataset.decided + " decided, " + tally.dataset.undecided + " undecided (not published unless approved)";
        }
        res.decided.forEach(function (job) { decided(job, res.verdict, res.by, body.get("reason") && res.verdict === "rejected" ? body.get("reason") : ""); });
        if (nsel) nsel.textContent = $$(".sel:checked").length;
        if (!viewer.hidden && current) open(current);
      })
      .catch(function (err) { msg.textContent = "the review server did not answer: " + err; msg.className = "msg err"; });
  });
})();

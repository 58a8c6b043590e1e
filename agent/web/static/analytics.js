/*
 * Tact collection analytics: totals as tiles, a per-day bar chart and an emotion-mix
 * stacked bar, drawn as SVG here (no inline script or style: the page has a strict CSP).
 * Every text from the server goes in with textContent.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var EMOTIONS = ["calm", "positive", "confused", "angry", "distressed"];
  var SERIES = [
    { key: "attempts", label: "Contact attempts", cls: "s-attempts" },
    { key: "right_party_contacts", label: "Right-party contacts", cls: "s-rpc" },
    { key: "promises", label: "Promises", cls: "s-promises" },
  ];

  var $ = function (id) {
    return document.getElementById(id);
  };

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, String(attrs[k]));
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(name, cls, text) {
    var node = document.createElement(name);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function money(amounts) {
    var parts = Object.keys(amounts || {}).map(function (cur) {
      return cur + " " + amounts[cur];
    });
    return parts.length ? parts.join(", ") : "0";
  }

  function value(day, key) {
    var v = day[key];
    return typeof v === "object" && v !== null ? v.count : v;
  }

  function legend(list, items) {
    list.replaceChildren();
    items.forEach(function (item) {
      var li = html("li");
      li.append(html("span", "swatch " + item.cls), document.createTextNode(item.label));
      list.append(li);
    });
  }

  function tiles(totals) {
    var list = $("tiles");
    list.replaceChildren();
    [
      ["attempts", "Contact attempts", totals.attempts],
      ["right_party_contacts", "Right-party contacts", totals.right_party_contacts],
      ["promises", "Promises", totals.promises.count],
      ["promise_amount", "Promised", money(totals.promises.amount)],
      ["kept_promises", "Kept promises", totals.kept_promises.count],
      ["recovery", "Recovered", money(totals.recovery)],
      ["handoffs", "Handoffs", totals.handoffs],
      ["cease_requests", "Cease requests", totals.cease_requests],
      ["complaints", "Disputes", totals.complaints],
    ].forEach(function (tile) {
      var li = html("li");
      li.dataset.key = tile[0];
      li.append(html("span", "value", String(tile[2])), html("span", "name", tile[1]));
      list.append(li);
    });
  }

  function daily(days) {
    var width = 900, height = 220, pad = 24, top = 10;
    var max = 1;
    days.forEach(function (d) {
      SERIES.forEach(function (s) {
        max = Math.max(max, value(d, s.key));
      });
    });
    var svg = el("svg", { viewBox: "0 0 " + width + " " + (height + pad), role: "img" });
    svg.append(el("title", {}, "Contact attempts, right-party contacts and promises per day"));
    var slot = (width - pad) / Math.max(days.length, 1);
    var bar = Math.max(1, (slot * 0.8) / SERIES.length);
    svg.append(el("line", { x1: pad, y1: height, x2: width, y2: height, stroke: "#6b7280" }));
    svg.append(el("text", { x: 0, y: top + 8 }, String(max)));
    days.forEach(function (d, i) {
      SERIES.forEach(function (s, j) {
        var n = value(d, s.key);
        if (!n) return;
        var h = ((height - top) * n) / max;
        var rect = el("rect", {
          x: pad + i * slot + slot * 0.1 + j * bar,
          y: height - h,
          width: bar,
          height: h,
          class: "bar " + s.cls,
          "data-series": s.key,
          "data-date": d.date,
        });
        rect.append(el("title", {}, d.date + ": " + s.label + " " + n));
        svg.append(rect);
      });
      if ((i % 7 === 0 && days.length - 1 - i >= 4) || i === days.length - 1) {
        svg.append(el("text", { x: pad + i * slot, y: height + 16 }, d.date.slice(5)));
      }
    });
    $("daily").replaceChildren(svg);
    legend($("daily-legend"), SERIES);
  }

  function emotions(mix) {
    var width = 900, height = 36;
    var names = EMOTIONS.slice();
    Object.keys(mix).forEach(function (k) {
      if (names.indexOf(k) < 0) names.push(k);
    });
    var total = names.reduce(function (sum, k) {
      return sum + (mix[k] || 0);
    }, 0);
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    svg.append(el("title", {}, "Emotion mix of debtor turns"));
    var x = 0;
    var items = [];
    names.forEach(function (k) {
      var n = mix[k] || 0;
      var cls = EMOTIONS.indexOf(k) >= 0 ? "e-" + k : "e-other";
      items.push({ cls: cls, label: k + " " + n });
      if (!n) return;
      var w = (width * n) / total;
      var rect = el("rect", { x: x, y: 0, width: w, height: height, class: "bar " + cls, "data-emotion": k });
      rect.append(el("title", {}, k + ": " + n));
      svg.append(rect);
      x += w;
    });
    if (!total) svg.append(el("text", { x: 4, y: 22 }, "No debtor turns in this range."));
    $("emotions").replaceChildren(svg);
    legend($("emotion-legend"), items);
  }

  function rules(totals) {
    var list = $("rules");
    list.replaceChildren();
    [
      ["Contact refused", totals.compliance_refusals_by_rule],
      ["Guard blocked", totals.guard_blocks_by_rule],
    ].forEach(function (group) {
      Object.keys(group[1]).forEach(function (rule) {
        list.append(html("li", "", group[0] + ": " + rule + " × " + group[1][rule]));
      });
    });
    if (!list.children.length) list.append(html("li", "muted", "No refusals or blocks."));
  }

  function load(query) {
    $("range-error").textContent = "";
    return fetch("/v1/analytics" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          return { status: response.status, data: data };
        });
      })
      .then(function (r) {
        if (r.status === 401) {
          $("report").hidden = true;
          $("signed-out").hidden = false;
          return;
        }
        if (r.status !== 200) {
          $("range-error").textContent = (r.data.error && r.data.error.message) || "Could not load the figures.";
          return;
        }
        var body = r.data;
        $("since").value = body.since;
        $("until").value = body.until;
        var scope = body.campaign_id === null ? "" : "&campaign=" + body.campaign_id;
        $("csv").href = "/v1/analytics.csv?since=" + body.since + "&until=" + body.until + scope;
        tiles(body.totals);
        daily(body.days);
        emotions(body.totals.emotion_mix);
        rules(body.totals);
        $("signed-out").hidden = true;
        $("report").hidden = false;
        document.body.dataset.loaded = "true";
      });
  }

  // The tenant's campaigns, to narrow the figures to one (names are text, never HTML).
  function campaigns() {
    fetch("/v1/campaigns", { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : { campaigns: [] };
      })
      .then(function (body) {
        body.campaigns.forEach(function (c) {
          var option = document.createElement("option");
          option.value = String(c.campaign_id);
          option.textContent = c.name + " (" + c.status + ")";
          $("campaign").append(option);
        });
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fetch("/v1/auth/me", { credentials: "same-origin" }).then(function (response) {
      if (response.status !== 200) {
        $("signed-out").hidden = false;
        return;
      }
      response.json().then(function (me) {
        $("who").textContent = me.username + " (" + me.tenant + ")";
      });
      load("");
      campaigns();
    });
    $("range").addEventListener("submit", function (event) {
      event.preventDefault();
      var q = "?since=" + encodeURIComponent($("since").value) + "&until=" + encodeURIComponent($("until").value);
      if ($("campaign").value) q += "&campaign=" + encodeURIComponent($("campaign").value);
      load(q);
    });
  });
})();

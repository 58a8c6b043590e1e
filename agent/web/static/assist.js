/*
 * Tact agent-assist panel: sign in, follow live conversations (Server-Sent Events), see
 * emotion and alerts, send suggested or typed replies, take over and hand back, wrap up.
 * Every text that came from a debtor or the server goes in with textContent.
 */
(function () {
  "use strict";

  var EMOTIONS = ["calm", "positive", "confused", "angry", "distressed"];
  var SPEAKERS = { debtor: "Debtor", agent: "Bot", human: "Agent" };

  var me = null; // {username, role, tenant, csrf_token}
  var conversations = new Map(); // conversation_id -> list entry
  var selected = null; // conversation_id
  var detail = null; // the selected conversation's body
  var events = null; // EventSource
  var refreshTimer = null;
  // Takeovers and hand-backs seen so far (events and our own actions): a refresh that was
  // in flight across one must not put the older owner back (see refreshSelected).
  var controlChanges = 0;
  var reads = 0; // re-reads of the selected conversation started: only the latest is applied
  var listReads = 0; // the same for the conversation list
  // How long a person may leave the debtor waiting before the bot takes the chat back
  // (seconds, null: never), and the server's clock minus ours: both from the list.
  var idleLimit = null;
  var clockSkew = 0;

  var $ = function (id) {
    return document.getElementById(id);
  };

  // --- HTTP ------------------------------------------------------------------------------

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // Cookie-authenticated changes must prove they come from this page.
    if (method !== "GET" && me) headers["X-CSRF-Token"] = me.csrf_token;
    return fetch(path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (data) {
        if (response.status === 401 && path.indexOf("/v1/auth/") !== 0) signedOut();
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function errorText(data, fallback) {
    var error = (data && data.error) || {};
    var text = error.message || fallback;
    if (Array.isArray(error.rules) && error.rules.length) {
      text += " (" + error.rules.map(ruleName).join(", ") + ")";
    }
    return text;
  }

  function ruleName(rule) {
    if (typeof rule === "string") return rule;
    return rule.rule || rule.id || rule.code || rule.name || JSON.stringify(rule);
  }

  // --- sign in -------------------------------------------------------------------------

  function init() {
    $("login-form").addEventListener("submit", onLogin);
    $("sign-out").addEventListener("click", onLogout);
    $("takeover").addEventListener("click", function () {
      act("takeover");
    });
    $("handback").addEventListener("click", function () {
      act("handback");
    });
    $("wrong-number").addEventListener("click", markWrongNumber);
    $("compose").addEventListener("submit", onCompose);
    $("compose-text").addEventListener("keydown", function (e) {
      // Enter sends, Shift+Enter is a new line (as in most chat tools).
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        $("compose").requestSubmit();
      }
    });
    $("wrapup-form").addEventListener("submit", onWrapup);
    setInterval(tickWaiting, 1000);
    api("GET", "/v1/auth/me").then(function (r) {
      if (r.ok) signedIn(r.data);
      else signedOut();
    });
  }

  function onLogin(e) {
    e.preventDefault();
    $("login-error").textContent = "";
    var body = { username: $("username").value.trim(), password: $("password").value };
    api("POST", "/v1/auth/login", body).then(function (r) {
      if (r.ok) {
        $("password").value = "";
        signedIn(r.data);
      } else {
        $("login-error").textContent = errorText(r.data, "Sign-in failed.");
      }
    });
  }

  function onLogout() {
    api("POST", "/v1/auth/logout", {}).then(signedOut);
  }

  function signedIn(user) {
    me = user;
    $("sign-in").hidden = true;
    $("panel").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = user.username + " · " + user.role + " · " + user.tenant;
    // Auditors read only: the controls that act are not offered.
    document.body.classList.toggle("read-only", user.role === "auditor");
    loadList();
    listen();
  }

  function signedOut() {
    me = null;
    if (events) events.close();
    events = null;
    selected = null;
    $("panel").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("who").textContent = "";
    $("live-status").textContent = "";
    $("username").focus();
  }

  // --- live updates ----------------------------------------------------------------------

  function listen() {
    if (events) events.close();
    events = new EventSource("/v1/assist/events");
    var wasOpen = false;
    events.onopen = function () {
      $("live-status").textContent = "Live";
      // After a drop some events were missed: read the current picture again.
      if (wasOpen) {
        loadList();
        if (selected) refreshSelected();
      }
      wasOpen = true;
    };
    events.onerror = function () {
      $("live-status").textContent = "Reconnecting…";
    };
    events.onmessage = function (e) {
      var event;
      try {
        event = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      onEvent(event);
    };
  }

  function onEvent(event) {
    var id = event.conversation_id;
    var entry = conversations.get(id);
    if (event.type === "turn") {
      if (!entry) return loadList(); // a new conversation
      if (event.state) {
        entry.step = event.state.step;
        entry.flags = event.state.flags || entry.flags;
      }
      if (event.role === "debtor" && event.emotion) entry.emotion = event.emotion;
      entry.waiting_since = waitingAfter(entry.waiting_since, event);
      renderList();
      if (id === selected) {
        // At once from the event; the full refresh (alerts, trend, suggestions) follows.
        appendTurn(event);
        if (detail && detail.conversation_id === id) {
          detail.waiting_since = waitingAfter(detail.waiting_since, event);
          renderWaiting();
        }
        if (event.state) $("fact-step").textContent = event.state.step;
        if (event.role === "debtor" && event.emotion) $("fact-emotion").textContent = event.emotion;
        scheduleRefresh();
      }
    } else if (event.type === "control") {
      controlChanged(id, event.controlled_by);
      if (id === selected && event.reason === "holder_idle") {
        // Said where the person who held it will look: their buttons just changed.
        $("control-note").textContent =
          "The bot took this chat back: the debtor's message waited longer than " +
          duration(idleLimit || 0) + " without a reply.";
      }
    } else if (event.type === "ended") {
      conversations.delete(id);
      renderList();
      if (id === selected) scheduleRefresh();
    } else if (event.type === "wrapup") {
      if (id === selected) scheduleRefresh();
    }
  }

  function scheduleRefresh() {
    // Several events arrive together after one turn: fetch once.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshSelected, 150);
  }

  // --- conversation list -----------------------------------------------------------------

  function loadList() {
    var changesBefore = controlChanges;
    var read = ++listReads;
    return api("GET", "/v1/assist/conversations").then(function (r) {
      if (!r.ok || read !== listReads) return;
      idleLimit = r.data.takeover_idle_seconds == null ? null : Number(r.data.takeover_idle_seconds);
      if (r.data.now) clockSkew = Date.parse(r.data.now) - Date.now();
      var previous = conversations;
      conversations = new Map();
      (r.data.conversations || []).forEach(function (c) {
        var known = previous.get(c.conversation_id);
        // As in refreshSelected: an owner learnt while this was in flight is newer.
        if (known && changesBefore !== controlChanges) c.controlled_by = known.controlled_by;
        conversations.set(c.conversation_id, c);
      });
      renderList();
    }).finally(function () {
      settled("listReads");
    });
  }

  function renderList() {
    var list = $("conversations");
    list.textContent = "";
    var entries = Array.from(conversations.values()).sort(function (a, b) {
      return String(b.updated_at).localeCompare(String(a.updated_at));
    });
    entries.forEach(function (c) {
      var button = el("button");
      button.type = "button";
      button.dataset.conversationId = c.conversation_id;
      if (c.session_id) button.dataset.sessionId = c.session_id;
      button.setAttribute("aria-current", c.conversation_id === selected ? "true" : "false");
      var ref = el("span", "ref", c.account_ref + " · " + c.channel + " · " + c.locale);
      if (c.alerts) ref.append(" ", el("span", "badge alert", c.alerts + " alert" + (c.alerts > 1 ? "s" : "")));
      if (c.controlled_by) ref.append(" ", el("span", "badge human", "human: " + c.controlled_by));
      if (c.controlled_by && c.waiting_since) {
        var clock = el("span", "badge waiting waiting-clock");
        clock.dataset.since = c.waiting_since;
        ref.append(" ", clock);
      }
      button.append(ref, el("span", "meta", "step " + c.step + " · " + (c.emotion || "no emotion yet")));
      button.addEventListener("click", function () {
        select(c.conversation_id);
      });
      var item = el("li");
      item.appendChild(button);
      list.appendChild(item);
    });
    $("list-empty").hidden = entries.length > 0;
  }

  // --- the selected conversation ---------------------------------------------------------

  function select(id) {
    selected = id;
    renderList();
    $("compose-error").textContent = "";
    $("control-note").textContent = "";
    $("wrapup-status").textContent = "";
    refreshSelected().then(function () {
      $("transcript").focus();
    });
  }

  function refreshSelected() {
    var id = selected;
    if (!id) return Promise.resolve();
    var base = "/v1/assist/conversations/" + encodeURIComponent(id);
    var changesBefore = controlChanges;
    var read = ++reads;
    return Promise.all([api("GET", base), api("GET", base + "/suggestions")]).then(function (rs) {
      // Another one was chosen meanwhile, or a later read is on its way (answers can
      // arrive out of order: the first suggestions of a conversation take longest).
      if (id !== selected || read !== reads) return;
      // The body was read before a takeover or hand-back that has arrived since: the
      // owner we know now is newer than the one in it.
      var known = detail && detail.conversation_id === id && changesBefore !== controlChanges;
      var owner = known ? detail.controlled_by : null;
      if (!rs[0].ok) {
        $("placeholder").textContent = errorText(rs[0].data, "This conversation cannot be shown.");
        $("placeholder").hidden = false;
        $("conversation").hidden = true;
        return;
      }
      detail = rs[0].data;
      if (known) detail.controlled_by = owner;
      renderDetail();
      renderSuggestions(rs[1].ok ? rs[1].data.suggestions || [] : []);
      if (detail.ended) return loadSummary(base);
    }).finally(function () {
      settled("reads");
    });
  }

  // Counts, on <body> (data-reads, data-list-reads), the reads of the selected conversation
  // and of the list that have been dealt with, applied or dropped: something driving the
  // panel (the browser tests) can wait for one instead of guessing how long it takes.
  function settled(kind) {
    var data = document.body.dataset;
    data[kind] = String(Number(data[kind] || 0) + 1);
  }

  function renderDetail() {
    $("placeholder").hidden = true;
    $("conversation").hidden = false;
    $("detail-title").textContent = detail.account_ref + " · " + detail.channel + " · " + detail.locale;
    $("fact-step").textContent = detail.step + (detail.ended ? " (ended)" : "");
    $("fact-verified").textContent = detail.verified ? "yes" : "no";
    var transcript = $("transcript");
    transcript.textContent = "";
    (detail.turns || []).forEach(appendTurn);
    var debtorTurns = (detail.turns || []).filter(function (t) {
      return t.role === "debtor";
    });
    var last = debtorTurns[debtorTurns.length - 1];
    $("fact-emotion").textContent = (last && last.emotion) || "–";
    $("intents").textContent = last && last.intents && last.intents.length ? last.intents.join(", ") : "–";
    fillList($("flags"), detail.flags || [], function (f) {
      return f;
    });
    fillList($("alerts"), detail.alerts || [], function (a) {
      return a.kind + ": " + a.message + (a.seq != null ? " (turn " + a.seq + ")" : "");
    }, "No alerts.");
    drawTrend(detail.emotion_trend || []);
    renderControl();
    renderWaiting();
    $("wrapup").hidden = !detail.ended;
  }

  function appendTurn(turn) {
    var transcript = $("transcript");
    if (turn.seq != null && transcript.querySelector('[data-seq="' + Number(turn.seq) + '"]')) return;
    var node = el("div", "turn " + (SPEAKERS[turn.role] ? turn.role : "agent"));
    if (turn.seq != null) node.dataset.seq = String(Number(turn.seq));
    node.dataset.role = turn.role;
    node.append(el("span", "speaker", SPEAKERS[turn.role] || turn.role), el("p", "text", turn.text));
    if (turn.role === "debtor" && turn.emotion) {
      var tags = turn.emotion + (turn.intents && turn.intents.length ? " · " + turn.intents.join(", ") : "");
      node.appendChild(el("span", "tags", tags));
    }
    transcript.appendChild(node);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function renderControl() {
    var mine = detail.controlled_by && me && detail.controlled_by === me.username;
    $("fact-control").textContent = detail.controlled_by ? "human (" + detail.controlled_by + ")" : "bot";
    var readOnly = !me || me.role === "auditor" || detail.ended;
    // The server's rule (set_control): only the holder speaks or hands back; a supervisor
    // may take a conversation from someone else, or hand it back for them.
    var supervisor = !!me && me.role === "supervisor";
    var other = !!detail.controlled_by && !mine;
    $("takeover").hidden = readOnly || mine || (other && !supervisor);
    $("handback").hidden = readOnly || !detail.controlled_by || (other && !supervisor);
    $("compose").hidden = readOnly || other;
    $("suggestions").hidden = detail.ended;
    renderNumber();
  }

  // --- a debtor waiting on a person ------------------------------------------------------

  // When the oldest unanswered debtor message came in, after `event` (a turn): a debtor
  // message starts the wait unless one already has; any answer ends it.
  function waitingAfter(since, event) {
    if (event.role !== "debtor") return null;
    return since || event.logged_at || new Date(Date.now() + clockSkew).toISOString();
  }

  // Shown while a person holds the conversation and the debtor waits on them: for how
  // long, and when the bot takes it back (the server's idle rule, agent/assist/idle.py).
  function renderWaiting() {
    var since = detail && !detail.ended && detail.controlled_by ? detail.waiting_since : null;
    $("fact-waiting-row").hidden = !since;
    var clock = $("fact-waiting");
    if (since) clock.dataset.since = since;
    else delete clock.dataset.since;
    tickWaiting();
  }

  function tickWaiting() {
    var now = Date.now() + clockSkew;
    document.querySelectorAll(".waiting-clock[data-since]").forEach(function (node) {
      var waited = Math.max(0, (now - Date.parse(node.dataset.since)) / 1000);
      var text = "waiting " + duration(waited);
      if (node.id === "fact-waiting" && idleLimit != null) {
        var left = idleLimit - waited;
        text += left > 0 ? " · back to the bot in " + duration(left) : " · going back to the bot";
      }
      node.textContent = text;
    });
  }

  function duration(seconds) {
    var s = Math.floor(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // The number that reached this conversation (a call, a texted link): shown by its last
  // four digits; an agent can retire it when the person is not the debtor.
  function renderNumber() {
    var number = detail.number;
    $("fact-number-row").hidden = !number;
    $("fact-number").textContent = number ? "…" + number.ending + " (" + number.status + ")" : "";
    $("wrong-number").hidden = !number || number.status !== "reachable" || !me || me.role === "auditor";
  }

  function markWrongNumber() {
    postAction("wrong-number", function (data) {
      detail.number = data.number;
      renderNumber();
      $("transcript").focus(); // the button is gone: keep the focus in the conversation
    });
  }

  function renderSuggestions(suggestions) {
    var list = $("suggestions");
    list.textContent = "";
    suggestions.slice(0, 3).forEach(function (s) {
      var item = el("li");
      item.dataset.templateId = s.template_id;
      var button = el("button", "primary", "Send");
      button.type = "button";
      button.setAttribute("aria-label", "Send suggestion: " + s.text);
      button.hidden = !me || me.role === "auditor";
      button.addEventListener("click", function () {
        send({ template_id: s.template_id }, button);
      });
      var why = s.tone + " · " + Math.round((s.score || 0) * 100) + "% match" + (s.why ? " · " + s.why : "");
      item.append(el("p", "text", s.text), button, el("p", "why", why));
      list.appendChild(item);
    });
    if (!suggestions.length) list.appendChild(el("li", "muted", "No suggestions at this step."));
  }

  function onCompose(e) {
    e.preventDefault();
    var text = $("compose-text").value.trim();
    if (text) send({ text: text }, null);
  }

  function send(body, button) {
    var id = selected;
    $("compose-error").textContent = "";
    if (button) button.disabled = true;
    return api("POST", "/v1/assist/conversations/" + encodeURIComponent(id) + "/messages", body).then(function (r) {
      if (button) button.disabled = false;
      if (r.ok) {
        if (body.text) $("compose-text").value = "";
        scheduleRefresh();
      } else {
        $("compose-error").textContent = errorText(r.data, "The message was not sent.");
        heldByOther(id, r.data);
      }
    });
  }

  // POST an action on the selected conversation; `done` gets the answer if that
  // conversation is still the selected one when it arrives.
  function postAction(action, done) {
    var id = selected;
    api("POST", "/v1/assist/conversations/" + encodeURIComponent(id) + "/" + action, {}).then(function (r) {
      if (!r.ok) {
        $("compose-error").textContent = errorText(r.data, "That did not work.");
        heldByOther(id, r.data);
        return;
      }
      if (id === selected) done(r.data, id);
    });
  }

  // Who holds a conversation changed (an event, our own action, or the server's answer
  // that someone else holds it): the list, and the selected conversation's buttons.
  function controlChanged(id, owner) {
    controlChanges++;
    var entry = conversations.get(id);
    if (entry) entry.controlled_by = owner;
    renderList();
    if (id === selected && detail) {
      detail.controlled_by = owner;
      renderControl();
      renderWaiting();
    }
  }

  // A 409 `controlled_by_other` names who holds the conversation: a panel that missed the
  // event shows it now instead of offering buttons the server will refuse.
  function heldByOther(id, data) {
    var error = (data && data.error) || {};
    if (error.code === "controlled_by_other" && typeof error.controlled_by === "string") {
      controlChanged(id, error.controlled_by);
    }
  }

  function act(action) {
    postAction(action, function (data, id) {
      $("control-note").textContent = "";
      controlChanged(id, data.controlled_by);
      (action === "takeover" ? $("compose-text") : $("takeover")).focus();
    });
  }

  // --- wrap-up ---------------------------------------------------------------------------

  function loadSummary(base) {
    return api("GET", base + "/summary").then(function (r) {
      if (!r.ok) return;
      $("summary-text").textContent = r.data.text || "";
      var saved = detail.wrapup;
      $("wrapup-code").value = (saved && saved.code) || r.data.suggested_code || "other";
      if (!$("wrapup-summary").value) $("wrapup-summary").value = (saved && saved.summary) || r.data.text || "";
      if (saved) $("wrapup-status").textContent = "Saved: " + saved.code;
    });
  }

  function onWrapup(e) {
    e.preventDefault();
    var body = { code: $("wrapup-code").value, summary: $("wrapup-summary").value };
    api("POST", "/v1/assist/conversations/" + encodeURIComponent(selected) + "/wrapup", body).then(function (r) {
      $("wrapup-status").textContent = r.ok ? "Wrap-up saved." : errorText(r.data, "Not saved.");
    });
  }

  // --- emotion trend: one line per emotion, score 0..1 per debtor turn -------------------

  function drawTrend(points) {
    var NS = "http://www.w3.org/2000/svg";
    var W = 300, H = 140, L = 28, R = 16, T = 8, B = 22;
    var box = $("trend");
    box.textContent = "";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    var arc = points.map(function (p) {
      return p.emotion;
    });
    var title = document.createElementNS(NS, "title");
    title.textContent = points.length
      ? "Emotion over " + points.length + " debtor turns: " + arc.join(" → ")
      : "No debtor turns yet";
    svg.appendChild(title);
    svg.setAttribute("aria-label", title.textContent);
    svg.dataset.latest = arc.length ? arc[arc.length - 1] : "";
    line(svg, L, T, L, H - B, "axis");
    line(svg, L, H - B, W - R, H - B, "axis");
    text(svg, 2, T + 8, "1.0");
    text(svg, 2, H - B, "0");
    var x = function (i) {
      return points.length < 2 ? (L + W - R) / 2 : L + (i * (W - R - L)) / (points.length - 1);
    };
    var y = function (v) {
      return H - B - Math.max(0, Math.min(1, v)) * (H - B - T);
    };
    points.forEach(function (p, i) {
      text(svg, x(i) - 4, H - 6, "#" + p.seq);
    });
    EMOTIONS.forEach(function (emotion) {
      if (!points.length) return;
      var coords = points.map(function (p, i) {
        var score = p.scores && p.scores[emotion] != null ? p.scores[emotion] : p.emotion === emotion ? 1 : 0;
        return x(i).toFixed(1) + "," + y(score).toFixed(1);
      });
      if (coords.length === 1) coords.push((x(0) + 1).toFixed(1) + "," + coords[0].split(",")[1]);
      var poly = document.createElementNS(NS, "polyline");
      poly.setAttribute("points", coords.join(" "));
      poly.setAttribute("class", "e-" + emotion);
      svg.appendChild(poly);
    });
    box.appendChild(svg);
    var legend = $("trend-legend");
    legend.textContent = "";
    EMOTIONS.forEach(function (emotion) {
      var item = el("li");
      item.append(el("span", "swatch e-" + emotion), emotion);
      legend.appendChild(item);
    });

    function line(parent, x1, y1, x2, y2, cls) {
      var l = document.createElementNS(NS, "line");
      [["x1", x1], ["y1", y1], ["x2", x2], ["y2", y2]].forEach(function (a) {
        l.setAttribute(a[0], a[1]);
      });
      l.setAttribute("class", cls);
      parent.appendChild(l);
    }
    function text(parent, tx, ty, value) {
      var t = document.createElementNS(NS, "text");
      t.setAttribute("x", tx);
      t.setAttribute("y", ty);
      t.textContent = value;
      parent.appendChild(t);
    }
  }

  // --- helpers ---------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function fillList(list, items, label, empty) {
    list.textContent = "";
    items.forEach(function (item) {
      list.appendChild(el("li", null, label(item)));
    });
    if (!items.length && empty) list.appendChild(el("li", "muted", empty));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

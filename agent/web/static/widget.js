/*
 * Tact chat widget. Embed with one tag:
 *   <script src="https://HOST/static/widget.js" data-account="DEMO-US-001"
 *           data-locale="en-US" data-color="#0b5cad" defer></script>
 * No framework, no third-party request. It lives in a shadow root so the host page's CSS
 * cannot break it (and it cannot break the page). Every text from the conversation is
 * inserted with textContent, never as markup.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__tactWidget) return; // loaded twice: keep the first one

  var STRINGS = {
    en: {
      launcher: "Chat about your account",
      title: "Account assistant",
      close: "Close chat",
      log: "Conversation",
      input: "Your message",
      placeholder: "Type a message…",
      send: "Send",
      options: "Quick replies",
      typing: "The assistant is typing…",
      connecting: "Connecting…",
      reconnecting: "Connection lost. Reconnecting…",
      online: "Online",
      sending: "Sending",
      delivered: "Delivered",
      failed: "Not sent",
      you: "You",
      agent: "Assistant",
      human: "Agent",
      ended: "This conversation has ended.",
      startFailed: "The chat could not start. Please try again later.",
    },
    zh: {
      launcher: "在线咨询您的账户",
      title: "账户助手",
      close: "关闭对话",
      log: "对话记录",
      input: "您的消息",
      placeholder: "请输入消息…",
      send: "发送",
      options: "快捷回复",
      typing: "助手正在输入…",
      connecting: "正在连接…",
      reconnecting: "连接已断开，正在重新连接…",
      online: "在线",
      sending: "发送中",
      delivered: "已送达",
      failed: "发送失败",
      you: "您",
      agent: "助手",
      human: "客服专员",
      ended: "本次对话已结束。",
      startFailed: "无法开始对话，请稍后再试。",
    },
  };

  var cfg = {
    account: script.dataset.account || "",
    // A campaign's texted chat link (/c/TOKEN) names itself, for the campaign figures.
    link: script.dataset.link || "",
    locale: script.dataset.locale || navigator.language || "en-US",
    color: validColor(script.dataset.color) || "#0b5cad",
    // The API lives where the script came from, so a lender's page on another origin works.
    origin: new URL(script.src, location.href).origin,
  };
  var t = STRINGS[cfg.locale.toLowerCase().indexOf("zh") === 0 ? "zh" : "en"];
  var storageKey = "tact.chat." + cfg.account;

  var CSS = [
    ":host{all:initial;--accent:#0b5cad;--on-accent:#fff;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans SC','PingFang SC',sans-serif;color:#1a1a1a}",
    "*{box-sizing:border-box}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "button,input{font:inherit}",
    ":focus-visible{outline:3px solid #1a1a1a;outline-offset:2px;box-shadow:0 0 0 5px #fff}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;background:var(--accent);color:var(--on-accent);font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:380px;height:600px;max-height:calc(100vh - 40px);display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 10px 40px rgba(0,0,0,.3);overflow:hidden}",
    ".panel[hidden],.launcher[hidden],.typing[hidden],.options[hidden],.notice[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--accent);color:var(--on-accent)}",
    "header h2{font-size:16px;margin:0;flex:1}",
    "header .conn{font-size:13px;display:block;font-weight:400}",
    ".close{border:0;background:transparent;color:inherit;font-size:22px;line-height:1;width:36px;height:36px;border-radius:6px;cursor:pointer}",
    ".close:focus-visible{outline-color:var(--on-accent);box-shadow:none}",
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#fff}",
    ".msg{max-width:85%;display:flex;flex-direction:column}",
    ".msg .who{font-size:12px;color:#4a4a4a;margin-bottom:2px}",
    ".msg .text{margin:0;padding:9px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".msg.agent .text,.msg.human .text{background:#eef1f4;color:#1a1a1a;border-bottom-left-radius:4px}",
    ".msg.human .text{background:#fff4d6}",
    ".msg.debtor{align-self:flex-end;align-items:flex-end}",
    ".msg.debtor .text{background:var(--accent);color:var(--on-accent);border-bottom-right-radius:4px}",
    ".msg .status{font-size:12px;color:#4a4a4a;margin-top:2px}",
    ".msg[data-status=failed] .status{color:#b00020}",
    ".typing{padding:0 14px 8px;font-size:13px;color:#4a4a4a;font-style:italic}",
    ".notice{margin:0 14px 8px;padding:8px 10px;border-radius:8px;background:#fdecea;color:#7a1010;font-size:13px}",
    ".options{display:flex;flex-wrap:wrap;gap:6px;padding:0 14px 10px}",
    ".options button{border:2px solid var(--accent);background:#fff;color:#1a1a1a;border-radius:16px;padding:4px 10px;font-size:14px;cursor:pointer}",
    ".options button:hover{background:#eef1f4}",
    "form{display:flex;gap:8px;padding:10px 14px;border-top:1px solid #d0d5da}",
    "input{flex:1;min-width:0;border:1px solid #6b7280;border-radius:8px;padding:9px 10px;color:#1a1a1a;background:#fff}",
    "input:disabled{background:#f3f4f6}",
    ".send{border:0;border-radius:8px;padding:9px 16px;background:var(--accent);color:var(--on-accent);font-weight:600;cursor:pointer}",
    ".send:disabled{opacity:.6;cursor:default}",
    // Phones: the chat takes the whole screen.
    "@media (max-width:479px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}.msg{max-width:92%}}",
  ].join("\n");

  // --- DOM -----------------------------------------------------------------------------

  var host = document.createElement("div");
  host.id = "tact-chat-widget";
  host.setAttribute("lang", cfg.locale);
  var root = host.attachShadow({ mode: "open" });
  applyStyles(root);
  host.style.setProperty("--accent", cfg.color);
  host.style.setProperty("--on-accent", textOn(cfg.color));

  var launcher = el("button", "launcher", t.launcher);
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "tact-panel");

  var panel = el("section", "panel");
  panel.id = "tact-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-labelledby", "tact-title");

  var header = el("header");
  var heading = el("h2", null, t.title);
  heading.id = "tact-title";
  var conn = el("span", "conn", t.connecting);
  conn.setAttribute("role", "status");
  heading.appendChild(conn);
  var closeButton = el("button", "close", "×");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", t.close);
  header.append(heading, closeButton);

  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", t.log);
  log.tabIndex = 0; // scrollable region: reachable by keyboard

  var typing = el("div", "typing", t.typing);
  typing.hidden = true;
  var notice = el("p", "notice");
  notice.hidden = true;
  notice.setAttribute("role", "alert");
  var options = el("div", "options");
  options.hidden = true;
  options.setAttribute("role", "group");
  options.setAttribute("aria-label", t.options);

  var form = el("form");
  var label = el("label", "sr", t.input);
  label.htmlFor = "tact-input";
  var input = el("input");
  input.id = "tact-input";
  input.type = "text";
  input.autocomplete = "off";
  input.maxLength = 2000;
  input.placeholder = t.placeholder;
  var sendButton = el("button", "send", t.send);
  sendButton.type = "submit";
  form.append(label, input, sendButton);

  panel.append(header, log, typing, notice, options, form);
  root.append(launcher, panel);

  // --- conversation state ------------------------------------------------------------

  var sessionId = loadSession();
  var socket = null;
  var attempts = 0;
  var reconnectTimer = null;
  var ended = false;
  // Debtor messages not yet acknowledged, in order: {text, node, sent}.
  var outbox = [];
  // How many debtor turns the server has confirmed; a resume compares against it.
  var confirmedDebtorTurns = 0;

  launcher.addEventListener("click", openPanel);
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") closePanel();
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    submit(input.value);
  });

  function openPanel() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    input.focus();
    if (!socket && !reconnectTimer) start();
  }

  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  function start() {
    if (sessionId) return connect();
    conn.textContent = t.connecting;
    fetch(cfg.origin + "/v1/chat/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(
        cfg.link
          ? { account_ref: cfg.account, locale: cfg.locale, link: cfg.link }
          : { account_ref: cfg.account, locale: cfg.locale }
      ),
    })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (body) {
        sessionId = body.session_id;
        saveSession(sessionId);
        connect();
      })
      .catch(function () {
        showNotice(t.startFailed);
        conn.textContent = "";
      });
  }

  function connect() {
    var url = cfg.origin.replace(/^http/, "ws") + "/v1/chat/sessions/" +
      encodeURIComponent(sessionId) + "/ws";
    var ws = new WebSocket(url);
    socket = ws;
    ws.onopen = function () {
      attempts = 0;
      conn.textContent = t.online;
      hideNotice();
    };
    ws.onmessage = function (e) {
      if (ws === socket) onFrame(JSON.parse(e.data));
    };
    ws.onclose = function (e) {
      if (ws !== socket) return;
      socket = null;
      typing.hidden = true;
      if (e.code === 4404) {
        // The saved session is gone (expired or another database): start afresh.
        sessionId = null;
        saveSession(null);
        return start();
      }
      if (ended) return;
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    conn.textContent = t.reconnecting;
    // Exponential back-off with jitter so a server restart is not hit by every client at once.
    var delay = Math.min(15000, 400 * Math.pow(2, attempts)) * (0.75 + Math.random() / 2);
    attempts += 1;
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function onFrame(frame) {
    if (frame.type === "session") return onSession(frame);
    if (frame.type === "typing") {
      typing.hidden = false;
      return;
    }
    if (frame.type === "reply") return onReply(frame);
    if (frame.type === "error") return onError(frame.error || {});
  }

  // The whole conversation so far, on every (re)connect: redraw it, so nothing is shown
  // twice, then settle the messages that were in flight when the socket dropped.
  function onSession(frame) {
    log.textContent = "";
    var debtorTurns = 0;
    (frame.turns || []).forEach(function (turn) {
      if (turn.role === "debtor") debtorTurns += 1;
      addMessage(turn.role, turn.text, turn.role === "debtor" ? "delivered" : null);
    });
    // Sent messages the server logged before the drop are now part of the history.
    var landed = debtorTurns - confirmedDebtorTurns;
    confirmedDebtorTurns = debtorTurns;
    var pending = outbox;
    outbox = [];
    pending.forEach(function (item) {
      if (item.sent && landed > 0) {
        landed -= 1;
        return;
      }
      queue(item.text);
    });
    applyState(frame.state);
    flush();
  }

  function onReply(frame) {
    var messages = frame.messages || [];
    // A pushed message (a person in the panel, or the bot taking back a chat the person
    // left waiting) is not the answer to the message in flight.
    if (!frame.pushed) {
      typing.hidden = true;
      var item = outbox.shift();
      if (item) {
        confirmedDebtorTurns += 1;
        setStatus(item.node, "delivered");
      }
    }
    messages.forEach(function (m) {
      addMessage(m.role, m.text, null);
    });
    applyState(frame.state);
    flush();
  }

  function onError(error) {
    typing.hidden = true;
    var item = outbox.shift();
    if (item) setStatus(item.node, "failed");
    if (error.message) showNotice(error.message);
  }

  function submit(text) {
    text = (text || "").trim();
    if (!text || ended) return;
    input.value = "";
    hideNotice();
    options.hidden = true;
    queue(text);
    flush();
    if (!socket && !reconnectTimer) start();
  }

  function queue(text) {
    outbox.push({ text: text, node: addMessage("debtor", text, "sending"), sent: false });
  }

  function flush() {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    outbox.forEach(function (item) {
      if (item.sent) return;
      socket.send(JSON.stringify({ type: "message", text: item.text }));
      item.sent = true;
    });
  }

  function applyState(state) {
    if (!state) return;
    ended = !!state.ended;
    input.disabled = ended;
    sendButton.disabled = ended;
    options.textContent = "";
    var offered = (!ended && state.options) || [];
    offered.forEach(function (option) {
      var b = el("button", null, option.label);
      b.type = "button";
      b.dataset.optionId = option.id;
      b.addEventListener("click", function () {
        submit(option.label);
      });
      options.appendChild(b);
    });
    options.hidden = offered.length === 0;
    log.scrollTop = log.scrollHeight; // the buttons took room: keep the newest text in view
    if (ended) {
      showNotice(t.ended);
      var s = socket;
      socket = null; // a closed conversation does not reconnect
      if (s) s.close();
    }
  }

  function addMessage(role, text, status) {
    var kind = role === "debtor" ? "debtor" : role === "human" ? "human" : "agent";
    var node = el("div", "msg " + kind);
    node.dataset.role = kind;
    node.append(
      el("span", "who", kind === "debtor" ? t.you : kind === "human" ? t.human : t.agent),
      el("p", "text", text)
    );
    if (status) {
      node.appendChild(el("span", "status"));
      setStatus(node, status);
    }
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function setStatus(node, status) {
    node.dataset.status = status;
    var s = node.querySelector(".status");
    if (s) s.textContent = t[status];
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  function hideNotice() {
    if (!ended) notice.hidden = true;
  }

  // --- helpers -------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function applyStyles(shadow) {
    // A constructed stylesheet is not an inline <style>, so a strict CSP on the host page
    // (style-src without 'unsafe-inline') still lets the widget style itself.
    if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
        return;
      } catch (e) {
        /* fall through */
      }
    }
    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  function validColor(value) {
    return value && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value) ? value : null;
  }

  // White or near-black text on the accent colour, whichever keeps WCAG AA (4.5:1).
  function textOn(hex) {
    var h = hex.slice(1);
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    var lum = [0, 2, 4].map(function (i) {
      var c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return 1.05 / (l + 0.05) >= 4.5 ? "#ffffff" : "#111111";
  }

  function loadSession() {
    try {
      return sessionStorage.getItem(storageKey);
    } catch (e) {
      return null; // storage blocked: a fresh session per page load
    }
  }

  function saveSession(id) {
    try {
      if (id) sessionStorage.setItem(storageKey, id);
      else sessionStorage.removeItem(storageKey);
    } catch (e) {
      /* storage blocked */
    }
  }

  function mount() {
    document.body.appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // A small handle for the page (and the browser tests): open the chat, see the socket.
  window.__tactWidget = {
    open: openPanel,
    close: closePanel,
    get socket() {
      return socket;
    },
    get sessionId() {
      return sessionId;
    },
  };
})();

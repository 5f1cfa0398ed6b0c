// The web chat page of `dialogue serve` (docs/server.md, "Web chat").
// Plain JavaScript, no build step. Every text from the server or the user is put
// in the page with textContent, never as HTML.
"use strict";

(() => {
  const KEYS = {
    session: "dialogue.session",
    transcript: "dialogue.transcript",
    token: "dialogue.token",
  };
  const params = new URLSearchParams(window.location.search);
  const debug = params.get("debug") === "1";
  const apiMeta = document.querySelector('meta[name="dialogue-api"]');
  const apiBase = new URL((apiMeta && apiMeta.content) || ".", document.baseURI);
  const $ = (id) => document.getElementById(id);
  const ui = {
    chat: $("chat"), log: $("log"), compose: $("compose"), text: $("text"), send: $("send"),
    restart: $("restart"), status: $("status"), notice: $("notice"),
    noticeText: $("notice-text"), retry: $("retry"), auth: $("auth"),
    authForm: $("auth-form"), authToken: $("auth-token"),
  };
  const state = { session: null, transcript: [], ended: false, busy: false, pending: null };

  // -- the token: given by the operator, kept for this tab only -----------------------

  function takeTokenFromAddress() {
    if (!params.has("token")) return;
    const token = params.get("token");
    if (token) sessionStorage.setItem(KEYS.token, token);
    params.delete("token");
    const query = params.toString();
    const address = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
    window.history.replaceState(null, "", address);
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const token = sessionStorage.getItem(KEYS.token);
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  function call(method, path, body) {
    const init = { method, headers: headers(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(new URL(path, apiBase), init);
  }

  function sessionPath(suffix) {
    return "v1/sessions/" + encodeURIComponent(state.session) + (suffix || "");
  }

  async function problemOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (_) { /* not JSON */ }
    return { code: "http_" + response.status, message: "the server answered " + response.status };
  }

  // -- what the page shows --------------------------------------------------------------

  function showNotice(text, retry) {
    ui.noticeText.textContent = text;
    ui.retry.hidden = !retry;
    ui.notice.hidden = false;
  }

  function clearNotice() {
    ui.notice.hidden = true;
    ui.retry.hidden = true;
    ui.noticeText.textContent = "";
  }

  function showAuth(problem) {
    const given = sessionStorage.getItem(KEYS.token);
    $("auth-message").textContent = given
      ? "The access token was not accepted (" + problem.message + "). Enter the right one:"
      : "This chat needs an access token. Open the link you were given (it ends in " +
        "?token=…), or enter the token here.";
    ui.auth.hidden = false;
    ui.chat.dataset.conversation = "unauthorized";
    setBusy(false);
    ui.authToken.focus();
  }

  function setBusy(busy) {
    state.busy = busy;
    const closed = busy || state.ended || !state.session || !ui.auth.hidden;
    ui.text.disabled = closed;
    ui.send.disabled = closed;
    for (const button of ui.log.querySelectorAll(".options button")) button.disabled = closed;
    ui.chat.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function setEnded(ended, handoff) {
    state.ended = ended;
    ui.chat.dataset.conversation = !ended ? "open" : handoff ? "handoff" : "ended";
    ui.status.hidden = !ended;
    ui.status.className = "status" + (ended ? (handoff ? " handoff" : " ended") : "");
    ui.status.textContent = !ended
      ? ""
      : handoff
        ? "You have been handed to a person. Restart to talk to the assistant again."
        : "This conversation has ended. Restart to begin a new one.";
    ui.text.placeholder = !ended
      ? "Type a message"
      : handoff ? "Handed to a person" : "Conversation ended";
    setBusy(state.busy);
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function item(className) {
    const li = document.createElement("li");
    li.className = className;
    ui.log.appendChild(li);
    return li;
  }

  function renderUser(text) {
    const li = item("msg user");
    const bubble = document.createElement("p");
    bubble.className = "bubble";
    bubble.textContent = text;
    li.appendChild(bubble);
    scrollDown();
    return li;
  }

  // The one place a bot reply becomes page content; quick replies (the choices the
  // last reply offers) are buttons under it (renderOptions).
  function renderReply(li, text) {
    let bubble = li.querySelector(".bubble");
    if (!bubble) {
      bubble = document.createElement("p");
      bubble.className = "bubble";
      li.appendChild(bubble);
    }
    bubble.textContent = text;
    return li;
  }

  // Quick replies: one button per option, its label as text. Only the latest turn's
  // are shown: choosing one (or sending anything) takes them away.
  function renderOptions(li, options) {
    clearOptions();
    if (!Array.isArray(options) || options.length === 0) return;
    const box = document.createElement("div");
    box.className = "options";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Quick replies");
    for (const option of options) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "option";
      button.textContent = String(option.label);
      button.addEventListener("click", guarded(() => choose(option)));
      box.appendChild(button);
    }
    li.appendChild(box);
    setBusy(state.busy);
  }

  function clearOptions() {
    for (const box of ui.log.querySelectorAll(".options")) box.remove();
  }

  // A bot turn on screen: one bubble per reply index, then the quick replies, the
  // rating buttons and (with ?debug=1) the trace.
  function turnView() {
    const bubbles = [];
    const view = {
      reply(index) {
        while (bubbles.length <= index) bubbles.push(null);
        if (!bubbles[index]) bubbles[index] = renderReply(item("msg bot streaming"), "");
        return bubbles[index];
      },
      delta(d) {
        const li = view.reply(d.index);
        const old = li.querySelector(".bubble").textContent;
        renderReply(li, d.replace ? d.text : old + d.text);
        scrollDown();
      },
      discard() {
        bubbles.forEach((li) => li && li.remove());
        bubbles.length = 0;
      },
      finish(turn) {
        turn.replies.forEach((text, i) => {
          const li = renderReply(view.reply(i), text);
          li.classList.remove("streaming");
          li.dataset.turn = String(turn.turn);
        });
        bubbles.slice(turn.replies.length).forEach((li) => li && li.remove());
        const last = bubbles[turn.replies.length - 1];
        if (turn.options && turn.options.length) {
          renderOptions(last || item("msg bot"), turn.options);
        }
        if (last) addTools(last, turn.turn, turn.rating || null);
        if (debug) addTrace(last || item("msg bot"), turn.trace);
        scrollDown();
      },
    };
    return view;
  }

  function addTools(li, turn, rating) {
    const tools = document.createElement("div");
    tools.className = "tools";
    for (const [value, label] of [["up", "Helpful"], ["down", "Not helpful"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "rate";
      button.dataset.rating = value;
      button.appendChild(thumb());
      button.title = label;
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", rating === value ? "true" : "false");
      button.addEventListener("click", () => rate(tools, turn, value));
      tools.appendChild(button);
    }
    li.appendChild(tools);
  }

  // A thumb drawn as SVG (the down one is turned by the stylesheet): emoji fonts are
  // not everywhere. The path is Material Design's "thumb_up" (Apache-2.0).
  const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79" +
    "-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 " +
    "1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function thumb() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", THUMB);
    svg.appendChild(path);
    return svg;
  }

  function addTrace(li, trace) {
    if (trace === null || trace === undefined) {
      const none = document.createElement("p");
      none.className = "trace none";
      none.textContent = "No trace: the server is not in debug mode (dialogue serve --debug).";
      li.appendChild(none);
      return;
    }
    const details = document.createElement("details");
    details.className = "trace";
    const summary = document.createElement("summary");
    summary.textContent = "trace: " + trace.rule + (trace.intent ? " " + trace.intent : "") +
      " → " + trace.state_after;
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(trace, null, 2);
    details.append(summary, pre);
    li.appendChild(details);
  }

  // -- the transcript, kept for this tab so a reload shows the conversation -----------

  function remember(entry) {
    state.transcript.push(entry);
    sessionStorage.setItem(KEYS.transcript, JSON.stringify(state.transcript));
  }

  function saveTranscript() {
    sessionStorage.setItem(KEYS.transcript, JSON.stringify(state.transcript));
  }

  function replay() {
    let stored = [];
    try {
      stored = JSON.parse(sessionStorage.getItem(KEYS.transcript) || "[]");
    } catch (_) { stored = []; }
    state.transcript = Array.isArray(stored) ? stored : [];
    for (const entry of state.transcript) {
      if (entry.who === "user") renderUser(String(entry.text));
      else turnView().finish(entry);
    }
  }

  function forget() {
    state.session = null;
    state.transcript = [];
    sessionStorage.removeItem(KEYS.session);
    sessionStorage.removeItem(KEYS.transcript);
    ui.log.replaceChildren();
    setEnded(false, false);
  }

  function botEntry(out) {
    const entry = {
      who: "bot", turn: out.turn, replies: out.replies, options: out.options || [], rating: null,
    };
    if (debug) entry.trace = out.trace;
    return entry;
  }

  function answered(out, view, said) {
    if (said) remember({ who: "user", text: said });
    const entry = botEntry(out);
    view.finish(entry);
    remember(entry);
    setEnded(out.ended, out.handoff);
  }

  // -- talking to the API -------------------------------------------------------------

  async function failed(response) {
    const problem = await problemOf(response);
    if (response.status === 401) {
      showAuth(problem);
    } else if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      showNotice("Too many messages: wait " + (wait || "a few") + " seconds and send it again.");
    } else {
      showNotice("Something went wrong: " + problem.message);
    }
  }

  async function start() {
    setBusy(true);
    clearNotice();
    const known = sessionStorage.getItem(KEYS.session);
    if (known) {
      state.session = known;
      const response = await call("GET", sessionPath());
      if (response.ok) {
        const session = await response.json();
        ui.auth.hidden = true;
        ui.log.replaceChildren();
        replay();
        setEnded(session.ended, session.handoff);
        setBusy(false);
        return;
      }
      if (response.status !== 404) return failed(response);
      forget();  // expired or erased: begin again
    }
    const response = await call("POST", "v1/sessions");
    if (!response.ok) return failed(response);
    const out = await response.json();
    ui.auth.hidden = true;
    state.session = out.session_id;
    sessionStorage.setItem(KEYS.session, out.session_id);
    answered(out, turnView());
    setBusy(false);
    ui.text.focus();
  }

  function messageId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function parseEvent(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    return { name, data: data.length ? JSON.parse(data.join("\n")) : null };
  }

  // Read the Server-Sent Events of one turn; the result, or null if the stream was
  // cut before it.
  async function readEvents(response, view) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event.name === "delta") view.delta(event.data);
        else if (event.name === "result") return event.data;
        else if (event.name === "error") throw new Error(event.data.error.message);
      }
    }
  }

  async function streamTurn(pending) {
    const view = turnView();
    let response;
    try {
      response = await call("POST", sessionPath("/messages/stream"),
        { text: pending.text, message_id: pending.id });
    } catch (_) {
      return showNotice("Could not reach the server.", true);
    }
    if (response.status === 404) {
      showNotice("This conversation has expired. A new one has started.");
      ui.text.value = pending.text;
      forget();
      return start();
    }
    if (!response.ok) {
      pending.li.classList.add("failed");
      ui.text.value = pending.text;
      return failed(response);
    }
    let out = null;
    try {
      out = await readEvents(response, view);
    } catch (error) {
      view.discard();
      return showNotice("The answer was cut off (" + error.message + ").", true);
    }
    if (out === null) {
      view.discard();
      return showNotice("The answer was cut off.", true);
    }
    state.pending = null;
    answered(out, view, pending.shown);
  }

  // Send a message; ``shown`` is what the conversation shows the user said (a quick
  // reply's label, where ``text`` is what it sends).
  async function send(text, shown) {
    clearNotice();
    clearOptions();
    const said = shown || text;
    const li = renderUser(said);
    state.pending = { text, shown: said, id: messageId(), li };
    setBusy(true);
    try {
      await streamTurn(state.pending);
    } finally {
      setBusy(false);
      if (!state.ended) ui.text.focus();
    }
  }

  async function retry() {
    if (!state.pending) return;
    clearNotice();
    setBusy(true);
    try {
      await streamTurn(state.pending);  // the same message id: answered once
    } finally {
      setBusy(false);
    }
  }

  async function choose(option) {
    if (state.busy || state.ended || !state.session) return;
    await send(String(option.text), String(option.label));
  }

  async function rate(tools, turn, rating) {
    const response = await call("POST", sessionPath("/feedback"), { turn, rating });
    if (!response.ok) return failed(response);
    for (const button of tools.querySelectorAll(".rate")) {
      button.setAttribute("aria-pressed", button.dataset.rating === rating ? "true" : "false");
    }
    const entry = state.transcript.find((e) => e.who === "bot" && e.turn === turn);
    if (entry) {
      entry.rating = rating;
      saveTranscript();
    }
  }

  // -- wiring -------------------------------------------------------------------------

  function guarded(task) {
    return (...args) => task(...args).catch((error) => {
      setBusy(false);
      showNotice("Something went wrong: " + error.message, Boolean(state.pending));
    });
  }

  ui.compose.addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const text = ui.text.value.trim();
    if (!text || state.busy || state.ended) return;
    ui.text.value = "";
    await send(text);
  }));
  ui.retry.addEventListener("click", guarded(retry));
  ui.restart.addEventListener("click", guarded(async () => {
    state.pending = null;
    forget();  // the old conversation stays on the server (a person may be reading it)
    await start();
  }));
  ui.authForm.addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const token = ui.authToken.value.trim();
    if (!token) return;
    sessionStorage.setItem(KEYS.token, token);
    ui.authToken.value = "";
    ui.auth.hidden = true;
    await start();
  }));

  takeTokenFromAddress();
  guarded(start)();
})();

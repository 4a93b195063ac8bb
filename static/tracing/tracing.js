// Live /debug/requests: a staff-only WebSocket sends the summary table and the
// trace list as server-rendered (autoescaped) HTML whenever they change; they
// are parsed with DOMParser and swapped in, so the page never reloads.
(function () {
  "use strict";
  const script = document.currentScript;
  const status = document.getElementById("live-status");
  const query = script.dataset.query;
  let delay = 500;

  function replace(id, html) {
    const target = document.getElementById(id);
    if (!target || typeof html !== "string") return;
    const parsed = new DOMParser().parseFromString(html, "text/html");
    target.replaceChildren(...Array.from(parsed.body.childNodes, (node) => document.importNode(node, true)));
  }

  function show(text, state) {
    status.textContent = text;
    status.className = "live-status " + state;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + script.dataset.livePath + (query ? "?" + query : ""));
    socket.onopen = function () {
      delay = 500;
      show("live: connected", "on");
    };
    socket.onmessage = function (event) {
      const data = JSON.parse(event.data);
      replace("summary-fragment", data.summary);
      replace("list-fragment", data.list);
      show("live: updated " + new Date().toLocaleTimeString(), "on");
    };
    socket.onclose = function (event) {
      if (event.code === 1008) {
        // The server ended it: the session is over or no longer staff.
        show("live: stopped, your session ended or is no longer staff; reload the page to log in", "off");
        return;
      }
      show("live: disconnected (code " + event.code + "), reconnecting…", "off");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();

/* A WebSocket that reconnects by itself.
 *
 * RealtimeSocket.open(path, handlers) connects to ws:// or wss:// (whichever
 * matches the page) on this page's host, and when the connection drops it
 * tries again after an exponential backoff with jitter (0.25 s, 0.5 s, 1 s,
 * 2 s, then at most 4 s), so a restarted server sees its clients come back
 * spread out rather than all in the same millisecond.
 *
 * handlers (all optional): onopen(event), onmessage(event), onerror(event),
 * onclose(event) are the browser's own events; onstate(state) is called with
 * {name: "connecting" | "connected" | "reconnecting", url, retryAt, attempt},
 * and on "reconnecting" the close's code and whether it was clean (a close
 * handshake, then TCP closed in order: 1001 is a server restarting).
 *
 * RealtimeSocket.showState(element, label) returns an onstate handler that
 * writes the state into `element` as text, counting the seconds down while
 * waiting to reconnect.
 */
(function (global) {
  "use strict";

  var FIRST_DELAY_MS = 250;
  var MAX_DELAY_MS = 4000;

  function socketUrl(path) {
    var scheme = global.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + global.location.host + path;
  }

  function backoffDelay(attempt) {
    var ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * Math.pow(2, attempt));
    // "Equal jitter": at least half the step, so the delay still grows.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function open(path, handlers) {
    handlers = handlers || {};
    var url = socketUrl(path);
    var socket = null;
    var attempt = 0;
    var retryTimer = null;
    var stopped = false;

    function report(name, extra) {
      if (!handlers.onstate) return;
      var state = { name: name, url: url, attempt: attempt, retryAt: null };
      for (var key in extra) state[key] = extra[key];
      handlers.onstate(state);
    }

    function connect() {
      retryTimer = null;
      report("connecting");
      socket = new WebSocket(url);
      socket.onopen = function (event) {
        attempt = 0;
        report("connected");
        if (handlers.onopen) handlers.onopen(event);
      };
      socket.onmessage = function (event) {
        if (handlers.onmessage) handlers.onmessage(event);
      };
      socket.onerror = function (event) {
        if (handlers.onerror) handlers.onerror(event);
      };
      socket.onclose = function (event) {
        socket = null;
        if (handlers.onclose) handlers.onclose(event);
        if (stopped) return;
        var delay = backoffDelay(attempt);
        attempt += 1;
        report("reconnecting", { retryAt: Date.now() + delay, code: event.code, clean: event.wasClean });
        retryTimer = global.setTimeout(connect, delay);
      };
    }

    connect();

    return {
      url: url,
      /* Sends if connected; returns false (and sends nothing) otherwise, so
       * the page can say the message was not sent instead of losing it silently. */
      send: function (data) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(data);
        return true;
      },
      isOpen: function () {
        return socket !== null && socket.readyState === WebSocket.OPEN;
      },
      close: function () {
        stopped = true;
        if (retryTimer !== null) global.clearTimeout(retryTimer);
        if (socket) socket.close(1000, "page closed the socket");
      },
    };
  }

  function showState(element, label) {
    var countdown = null;
    var prefix = label ? label + ": " : "";

    return function (state) {
      if (countdown !== null) {
        global.clearInterval(countdown);
        countdown = null;
      }
      element.setAttribute("data-state", state.name);
      if (state.name === "reconnecting") {
        // The last close as the browser reported it (also for tests).
        element.setAttribute("data-close-code", state.code);
        element.setAttribute("data-close-clean", state.clean ? "yes" : "no");
      }
      if (state.name === "connected") {
        element.textContent = prefix + "connected";
      } else if (state.name === "connecting") {
        element.textContent = prefix + "connecting…";
      } else {
        var tick = function () {
          var seconds = Math.max(0, (state.retryAt - Date.now()) / 1000);
          element.textContent =
            prefix + "connection lost (code " + state.code + ") — reconnecting in " +
            seconds.toFixed(1) + " s…";
        };
        tick();
        countdown = global.setInterval(tick, 100);
      }
    };
  }

  global.RealtimeSocket = { open: open, showState: showState, url: socketUrl };
})(window);

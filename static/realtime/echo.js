/* /echo/: astaxie's page. The text goes to /ws/received, which answers
 * "Received: <text>"; every WebSocket event is written to the log. */
(function () {
  "use strict";

  var MAX_LOG_LINES = 200;
  var form = document.getElementById("send-form");
  var input = document.getElementById("message");
  var log = document.getElementById("log");

  function write(kind, text) {
    var line = document.createElement("li");
    line.className = "log-" + kind.replace(/\s+/g, "-");
    var label = document.createElement("span");
    label.className = "event";
    label.textContent = kind;
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text; // never innerHTML: the server echoes what anyone typed
    line.appendChild(label);
    line.appendChild(body);
    log.appendChild(line);
    while (log.children.length > MAX_LOG_LINES) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  }

  var socket = RealtimeSocket.open("/ws/received", {
    onstate: RealtimeSocket.showState(document.getElementById("status")),
    onopen: function () {
      write("onopen", "connected to " + socket.url);
    },
    onmessage: function (event) {
      write("onmessage", event.data);
    },
    onerror: function () {
      // The browser gives no detail here on purpose; onclose follows with the code.
      write("onerror", "the connection failed");
    },
    onclose: function (event) {
      // wasClean: the close handshake ran and then TCP closed in order.
      write("onclose", "connection closed (" + event.code + (event.reason ? ", " + event.reason : "") + ")" +
        (event.wasClean ? "" : ", not clean"));
    },
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (socket.send(input.value)) {
      write("send", input.value);
    } else {
      write("not sent", "not connected; try again once the status says connected");
    }
  });

  window.realtimeSockets = { received: socket };
})();

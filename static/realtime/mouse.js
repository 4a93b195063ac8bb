/* /mouse/: Bendersky's page. Mouse moves over the box go to /ws/mouse as
 * {"x": int, "y": int} (relative to the box); what the server echoes back is
 * shown under the box. The ticker at the top shows the time pushed by /ws/time. */
(function () {
  "use strict";

  var box = document.getElementById("box");
  var dot = document.getElementById("dot");
  var coords = document.getElementById("coords");
  var mouseError = document.getElementById("mouse-error");
  var ticker = document.getElementById("ticker");
  var tickerError = document.getElementById("ticker-error");

  function showError(element, frame) {
    element.textContent = "server error " + frame.error.code + ": " + frame.error.message;
    element.hidden = false;
  }

  function parse(event, errorElement) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      errorElement.textContent = "unreadable message from the server: " + String(event.data);
      errorElement.hidden = false;
      return null;
    }
  }

  var mouse = RealtimeSocket.open("/ws/mouse", {
    onstate: RealtimeSocket.showState(document.getElementById("mouse-status"), "mouse socket"),
    onmessage: function (event) {
      var data = parse(event, mouseError);
      if (data === null) return;
      if (data.error) {
        showError(mouseError, data);
        return;
      }
      mouseError.hidden = true;
      coords.textContent = "x: " + data.x + ", y: " + data.y;
      dot.style.left = data.x + "px";
      dot.style.top = data.y + "px";
      dot.hidden = false;
    },
  });

  // One message per animation frame at most: the browser may fire mousemove
  // faster than the screen refreshes, and the server throttles floods.
  var pending = null;
  box.addEventListener("mousemove", function (event) {
    var rect = box.getBoundingClientRect();
    var x = Math.round(event.clientX - rect.left - box.clientLeft);
    var y = Math.round(event.clientY - rect.top - box.clientTop);
    x = Math.max(0, Math.min(box.clientWidth - 1, x));
    y = Math.max(0, Math.min(box.clientHeight - 1, y));
    var first = pending === null;
    pending = { x: x, y: y };
    if (first) {
      window.requestAnimationFrame(function () {
        mouse.send(JSON.stringify(pending));
        pending = null;
      });
    }
  });

  var showTimeState = RealtimeSocket.showState(document.getElementById("time-status"), "time socket");
  var time = RealtimeSocket.open("/ws/time", {
    onstate: function (state) {
      showTimeState(state);
      // Grey out the last tick while disconnected, so nobody reads it as live.
      ticker.classList.toggle("stale", state.name !== "connected");
    },
    onmessage: function (event) {
      var data = parse(event, tickerError);
      if (data === null) return;
      if (data.error) {
        showError(tickerError, data);
        return;
      }
      tickerError.hidden = true;
      ticker.textContent = data.time;
      ticker.title = data.iso + " (tick " + data.seq + ")";
    },
  });

  // Reachable from the developer console, e.g. realtimeSockets.mouse.send("{}").
  window.realtimeSockets = { mouse: mouse, time: time };
})();

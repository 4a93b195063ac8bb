/* The chat page: /ws/chat/<room>/ through RealtimeSocket (socket.js), which
 * reconnects with backoff. Message text goes in with textContent only.
 *
 * Nothing missed, nothing twice (docs/CHAT.md): every change of the room
 * (post, edit, delete) carries its offset in the room's stream (1, 2, 3, ...)
 * and the stream's epoch. The page applies changes strictly in offset order
 * and keeps `offset`, up to which it has applied everything. A change beyond
 * the next one waits in `held` while the hole may still fill (broadcasts
 * through two server processes can overtake each other); after HOLE_WAIT_MS,
 * or at once when the server says "resync", or after a reconnect, the page
 * asks for exactly the changes after its offset ("sync", paged) and applies
 * them in order; a change at or below its offset is skipped. A post that was
 * never acknowledged is sent again after a reconnect with the same
 * client_id, so the server stores it once; one answered by an error frame is
 * no longer pending: the text stays, and sending it again unchanged reuses
 * its client_id. */
(function () {
  "use strict";

  var HOLE_WAIT_MS = 500;

  var root = document.getElementById("chat");
  var roomName = root.getAttribute("data-room");
  var scroller = document.getElementById("scroller");
  var list = document.getElementById("messages");
  var olderButton = document.getElementById("load-older");
  var beginning = document.getElementById("beginning");
  var presenceBox = document.getElementById("presence");
  var errorBox = document.getElementById("error");
  var form = document.getElementById("post-form");
  var input = document.getElementById("text");

  var me = null;            // {name, staff} or null for a guest
  var rows = new Map();     // message id -> <li>
  var hasMore = false;      // older messages exist on the server
  var loadingOlder = false;
  var joinedOnce = false;
  var pending = null;       // the post awaiting its ack: {client_id, text}
  var failed = null;        // the last post refused by an error frame: {client_id, text}

  var epoch = null;         // the room stream's epoch ("" while the room is not stored)
  var offset = 0;           // every change up to this offset is applied
  var held = new Map();     // offset -> change that arrived ahead of a hole
  var holeTimer = null;
  var syncing = false;      // a sync request is on its way
  var syncAgain = false;    // asked for while one was on its way

  var socket = RealtimeSocket.open(root.getAttribute("data-socket"), {
    onmessage: function (event) { handle(JSON.parse(event.data)); },
    onstate: RealtimeSocket.showState(document.getElementById("status"), "chat"),
  });

  function send(request) {
    if (!socket.send(JSON.stringify(request))) {
      showError("not connected — reconnecting; try again in a moment");
      return false;
    }
    return true;
  }

  function showError(text) { errorBox.textContent = text; }

  var ACK_KINDS = { post: "message", edit: "edited", "delete": "deleted" };

  function handle(frame) {
    if (frame.error) {
      showError(frame.error.message + " (" + frame.error.code + ")");
      if (pending) {
        // The post was refused (rate_limited, unavailable, ...): the text
        // stays for the user to send again or change.
        failed = pending;
        pending = null;
      }
      unlockInput();
      return;
    }
    switch (frame.type) {
      case "joined": return joined(frame);
      case "message":
      case "edited":
      case "deleted":
        return receive(frame);
      case "ack":
        receive({ type: ACK_KINDS[frame.action], offset: frame.offset, epoch: frame.epoch, message: frame.message });
        if (frame.action === "post" && pending && frame.client_id === pending.client_id) {
          pending = null;
          failed = null;
          input.value = "";
          unlockInput();
          scrollToBottom();
        }
        showError("");
        return;
      case "resync": return requestSync();
      case "history": return olderArrived(frame);
      case "sync": return synced(frame);
      case "presence": return showPresence(frame);
    }
  }

  function joined(frame) {
    var userChanged = joinedOnce && JSON.stringify(me) !== JSON.stringify(frame.user);
    me = frame.user;
    // Requests lost with the old connection are not coming back.
    loadingOlder = false;
    syncing = false;
    if (userChanged) {
      // Logged out or in elsewhere: the edit and delete buttons change.
      rows.forEach(function (row) { render(row, row.message); });
    }
    var reconnect = joinedOnce;
    joinedOnce = true;
    if (!reconnect || (epoch && frame.epoch && frame.epoch !== epoch)) {
      // First join, or the room's stream began again: start from here.
      startOver(frame.epoch, frame.offset, frame.messages, frame.has_more);
      scrollToBottom();
      fillScroller();
    } else {
      // These are newer than anything held, or the same: safe to show.
      show(frame.messages, true);
      if (!epoch) epoch = frame.epoch;
      if (frame.offset > offset) requestSync();
    }
    if (reconnect && pending) send({ action: "post", room: roomName, text: pending.text, client_id: pending.client_id });
  }

  function startOver(newEpoch, newOffset, messages, olderExist) {
    rows.clear();
    list.replaceChildren();
    held.clear();
    epoch = newEpoch;
    offset = newOffset;
    hasMore = olderExist;
    show(messages, true);
    updateOlder();
  }

  // -- the room's stream: in offset order, each change once ---------------------

  function receive(change) {
    if (epoch && change.epoch && change.epoch !== epoch) return requestSync();  // answered with a reset
    if (!epoch && change.epoch) epoch = change.epoch;  // the room was stored after we joined
    if (change.offset <= offset) return;  // applied already
    if (change.offset > offset + 1) {
      held.set(change.offset, change);
      return watchHole();
    }
    apply(change);
    drainHeld();
  }

  function apply(change) {
    offset = change.offset;
    show([change.message], true);
  }

  function drainHeld() {
    while (held.has(offset + 1)) {
      var next = held.get(offset + 1);
      held.delete(offset + 1);
      apply(next);
    }
    held.forEach(function (_, at) { if (at <= offset) held.delete(at); });
    if (held.size) {
      watchHole();
    } else if (holeTimer) {
      clearTimeout(holeTimer);
      holeTimer = null;
    }
  }

  function watchHole() {
    if (holeTimer || syncing) return;
    holeTimer = setTimeout(function () { holeTimer = null; requestSync(); }, HOLE_WAIT_MS);
  }

  function requestSync() {
    if (holeTimer) { clearTimeout(holeTimer); holeTimer = null; }
    if (syncing) { syncAgain = true; return; }
    syncAgain = false;
    syncing = send({ action: "sync", after: offset, epoch: epoch === null ? "" : epoch });
  }

  function synced(frame) {
    syncing = false;
    if (frame.reset) {
      startOver(frame.epoch, frame.offset, frame.messages, frame.has_more_before);
    } else {
      frame.changes.forEach(receive);
    }
    if (frame.has_more || syncAgain) return requestSync();
    drainHeld();
  }

  // -- the message list ---------------------------------------------------------

  function show(messages, followBottom) {
    var atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    messages.forEach(upsert);
    if (followBottom && atBottom) scrollToBottom();
  }

  function upsert(message) {
    var row = rows.get(message.id);
    if (!row) {
      row = document.createElement("li");
      row.className = "message";
      row.id = "message-" + message.id;
      row.setAttribute("data-id", String(message.id));
      rows.set(message.id, row);
      insertInOrder(row, message.id);
    }
    render(row, message);
  }

  function insertInOrder(row, id) {
    // Newest are at the end; walk back to the first row with a smaller id.
    var after = list.lastElementChild;
    while (after && Number(after.getAttribute("data-id")) > id) after = after.previousElementSibling;
    list.insertBefore(row, after ? after.nextElementSibling : list.firstElementChild);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(row, message) {
    row.message = message;
    row.replaceChildren();
    row.classList.toggle("is-deleted", message.deleted);
    row.appendChild(element("span", "author", message.author));
    var when = element("time", "when", new Date(message.created).toLocaleString());
    when.setAttribute("datetime", message.created);
    row.appendChild(when);
    if (message.deleted) {
      row.appendChild(element("p", "text deleted", "message deleted"));
      return;
    }
    if (message.edited_at) {
      var edited = element("span", "edited", "(edited)");
      edited.title = "edited " + new Date(message.edited_at).toLocaleString();
      row.appendChild(edited);
    }
    var own = me && me.name === message.author;
    if (own || (me && me.staff)) {
      var actions = element("span", "actions");
      if (own) {
        var edit = element("button", "edit", "Edit");
        edit.type = "button";
        edit.addEventListener("click", function () { startEdit(row, message); });
        actions.appendChild(edit);
      }
      var remove = element("button", "delete", "Delete");
      remove.type = "button";
      remove.addEventListener("click", function () {
        if (window.confirm("Delete this message?")) send({ action: "delete", id: message.id });
      });
      actions.appendChild(remove);
      row.appendChild(actions);
    }
    row.appendChild(element("p", "text", message.text));
  }

  function startEdit(row, message) {
    var text = row.querySelector(".text");
    var editor = element("form", "edit-form");
    var area = element("textarea", "edit-text");
    area.value = message.text;
    area.maxLength = Number(root.getAttribute("data-max-chars"));
    var save = element("button", "save", "Save");
    save.type = "submit";
    var cancel = element("button", "cancel", "Cancel");
    cancel.type = "button";
    editor.append(area, save, cancel);
    editor.addEventListener("submit", function (event) {
      event.preventDefault();
      send({ action: "edit", id: message.id, text: area.value });
    });
    cancel.addEventListener("click", function () { render(row, message); });
    area.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        editor.requestSubmit();
      } else if (event.key === "Escape") {
        render(row, message);
      }
    });
    text.replaceWith(editor);
    editor.scrollIntoView({ block: "nearest" });
    area.focus();
  }

  // -- older messages (infinite scroll) ---------------------------------------

  function updateOlder() {
    olderButton.hidden = !hasMore;
    beginning.hidden = hasMore;
  }

  function loadOlder() {
    if (!hasMore || loadingOlder || !list.firstElementChild) return;
    var oldest = Number(list.firstElementChild.getAttribute("data-id"));
    loadingOlder = send({ action: "history", before: oldest });
  }

  function olderArrived(frame) {
    // Keep what the reader looks at in place while rows go in above it.
    var fromBottom = scroller.scrollHeight - scroller.scrollTop;
    frame.messages.forEach(upsert);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    hasMore = frame.has_more;
    loadingOlder = false;
    updateOlder();
    fillScroller();
  }

  function fillScroller() {
    // Not enough rows to scroll: there is no scroll-up to wait for.
    if (hasMore && scroller.scrollHeight <= scroller.clientHeight) loadOlder();
  }

  function scrollToBottom() { scroller.scrollTop = scroller.scrollHeight; }

  scroller.addEventListener("scroll", function () { if (scroller.scrollTop < 60) loadOlder(); });
  olderButton.addEventListener("click", loadOlder);

  // -- presence ------------------------------------------------------------------

  function showPresence(frame) {
    var parts = [];
    if (frame.users.length) parts.push(frame.users.join(", "));
    if (frame.guests) parts.push(frame.guests + (frame.guests === 1 ? " guest" : " guests"));
    presenceBox.textContent = "Here now: " + (parts.length ? parts.join(" and ") : "nobody");
  }

  // -- posting -------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function unlockInput() { if (input) input.readOnly = false; }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pending) return;  // until it is acknowledged or refused
      var text = input.value;
      if (!text.trim()) { showError("the message is empty"); return; }
      // Sent again unchanged after an error: the same post (if it was
      // stored after all, the server answers with the stored one).
      var clientId = failed && failed.text === text ? failed.client_id : newClientId();
      failed = null;
      pending = { client_id: clientId, text: text };
      input.readOnly = true;  // until stored: the text stays if it is refused
      if (!send({ action: "post", room: roomName, text: text, client_id: clientId })) {
        failed = pending;
        pending = null;
        unlockInput();
      }
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }
})();

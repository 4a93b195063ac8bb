/* The chat page: /ws/chat/<room>/ through RealtimeSocket (socket.js), which
 * reconnects with backoff. On every (re)connect the server sends the last
 * messages; after a reconnect this page also asks for what it missed
 * ("sync": newer messages, and edits/deletions since it last heard from the
 * server) and re-sends a post that was never acknowledged (same client_id,
 * so the server stores it once). Message text goes in with textContent only. */
(function () {
  "use strict";

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
  var maxId = 0;            // newest message id this page holds
  var lastSeenAt = null;    // server time of the newest thing we heard
  var hasMore = false;      // older messages exist on the server
  var loadingOlder = false;
  var joinedOnce = false;
  var pending = null;       // the post awaiting its ack: {client_id, text}

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

  function seen(time) { if (time && (!lastSeenAt || time > lastSeenAt)) lastSeenAt = time; }

  function handle(frame) {
    if (frame.error) {
      showError(frame.error.message + " (" + frame.error.code + ")");
      unlockInput();
      return;
    }
    switch (frame.type) {
      case "joined": return joined(frame);
      case "message":
      case "edited":
      case "deleted":
        seen(frame.at);
        return show([frame.message], true);
      case "ack":
        show([frame.message], frame.action === "post");
        if (frame.action === "post" && pending && frame.client_id === pending.client_id) {
          pending = null;
          input.value = "";
          unlockInput();
          scrollToBottom();
        }
        showError("");
        return;
      case "history": return olderArrived(frame);
      case "sync": return synced(frame);
      case "presence": return showPresence(frame);
    }
  }

  function joined(frame) {
    var userChanged = joinedOnce && JSON.stringify(me) !== JSON.stringify(frame.user);
    me = frame.user;
    // A "load older" request lost with the old connection is not coming back.
    loadingOlder = false;
    if (userChanged) {
      // Logged out or in elsewhere: the edit and delete buttons change.
      rows.forEach(function (row) { render(row, row.message); });
    }
    var reconnect = joinedOnce;
    var knownUpTo = maxId;
    var since = lastSeenAt;
    joinedOnce = true;
    if (!reconnect) hasMore = frame.has_more;
    show(frame.messages, true);
    seen(frame.now);
    updateOlder();
    if (reconnect) {
      send({ action: "sync", after: knownUpTo, since: since });
      if (pending) send({ action: "post", room: roomName, text: pending.text, client_id: pending.client_id });
    } else {
      scrollToBottom();
      fillScroller();
    }
  }

  function synced(frame) {
    show(frame.messages, true);
    if (frame.has_more) {
      var newest = frame.after;
      frame.messages.forEach(function (m) { if (m.id > newest) newest = m.id; });
      send({ action: "sync", after: newest });
    } else {
      seen(frame.now);
    }
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
      if (message.id > maxId) maxId = message.id;
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
      if (pending) return;
      var text = input.value;
      if (!text.trim()) { showError("the message is empty"); return; }
      pending = { client_id: newClientId(), text: text };
      input.readOnly = true;  // until stored: the text stays if it is refused
      if (!send({ action: "post", room: roomName, text: text, client_id: pending.client_id })) {
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

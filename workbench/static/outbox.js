// The workbench's outbox: a report written in a field is never lost.
//
// Everything typed is kept on the phone as it is typed (localStorage), photos as they are
// chosen (IndexedDB: they are too big for localStorage), so a reload, a closed tab or a
// dead network loses nothing. A report sent is an entry with its own Idempotency-Key,
// kept beside it: it is retried with backoff until the server acknowledges it, and a
// resend after a lost answer gets the first answer back (the API replays it), so it never
// makes a second case. Entries show as 待发送 / 已送达 with their case code.
(function () {
  "use strict";
  var KEY = "wb.outbox";
  var MAX_DELAY = 60000;
  var listeners = [];
  var timer = null;
  var sending = false;
  var api = null;

  // --- photos in IndexedDB ------------------------------------------------------------
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open("workbench", 1);
        open.onupgradeneeded = function () { open.result.createObjectStore("photos"); };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }
  function store(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction("photos", mode);
        var request = work(tx.objectStore("photos"));
        tx.oncomplete = function () { resolve(request && request.result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }
  var photos = {
    put: function (blob) { var id = newId(); return store("readwrite", function (s) { return s.put(blob, id); }).then(function () { return id; }); },
    get: function (id) { return store("readonly", function (s) { return s.get(id); }); },
    drop: function (id) { return store("readwrite", function (s) { return s.delete(id); }); }
  };

  // --- entries in localStorage --------------------------------------------------------
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function notify(entries) {
    listeners.forEach(function (fn) { try { fn(entries); } catch (e) { /* a screen gone */ } });
  }
  function save(entries) {
    // Everything not yet sent is kept; of the sent, the newest 20, as receipts.
    var sent = 0;
    entries = entries.filter(function (e) { return e.status !== "sent" || sent++ < 20; });
    localStorage.setItem(KEY, JSON.stringify(entries));
    notify(entries);
  }
  // Another tab changed the outbox: redraw here too.
  window.addEventListener("storage", function (e) { if (e.key === KEY) { notify(load()); } });
  function update(id, change) {
    var entries = load();
    entries.forEach(function (e) { if (e.id === id) { Object.assign(e, change); } });
    save(entries);
    return entries.filter(function (e) { return e.id === id; })[0];
  }

  // An entry belongs to the account that wrote it: on a shared phone, another account's
  // sign-in never sends it (it waits for its own account to sign in again).
  function add(kind, path, body, photoIds, label, draft) {
    var entry = {id: newId(), key: newId(), kind: kind, path: path, body: body, label: label,
      photos: photoIds || [], uploaded: [], status: "pending", attempts: 0, nextAt: 0,
      createdAt: Date.now(), code: null, error: null, user: api.userId(), draft: draft || null};
    var entries = load();
    entries.unshift(entry);
    save(entries);
    kick();
    return entry;
  }
  function mine(e) { return e.user === api.userId(); }

  function backoff(entry, message) {
    var attempts = entry.attempts + 1;
    var delay = Math.min(MAX_DELAY, 1000 * Math.pow(2, attempts)) * (0.8 + Math.random() * 0.4);
    update(entry.id, {attempts: attempts, nextAt: Date.now() + delay, error: message});
  }

  // One entry, one step at a time: the photos not yet uploaded, then the report itself.
  function sendOne(entry) {
    var index = entry.uploaded.length;
    if (index < entry.photos.length) {
      return photos.get(entry.photos[index]).then(function (blob) {
        if (!blob) {  // gone from this phone (storage cleared): send what is left
          var left = entry.photos.slice(); left.splice(index, 1);
          update(entry.id, {photos: left});
          return;
        }
        // The photo's own id on this phone is its upload's key: a resend after a lost
        // answer gets the photo the first try stored.
        return api.upload(blob, function (percent) {
          update(entry.id, {progress: "正在上传照片 " + (index + 1) + "/" + entry.photos.length + "：" + percent + "%"});
        }, entry.photos[index]).then(function (answer) {
          if (answer.status === 201) {
            update(entry.id, {uploaded: entry.uploaded.concat([answer.json.id]), progress: null});
          } else if (answer.status >= 500 || answer.status === 0 || answer.status === 429 || answer.status === 401) {
            backoff(entry, answer.message);
          } else {
            // This photo is refused (too large, not a photo): the report goes without it.
            var left = entry.photos.slice(); left.splice(index, 1);
            photos.drop(entry.photos[index]);
            update(entry.id, {photos: left, progress: null, skipped: (entry.skipped || 0) + 1});
          }
        });
      });
    }
    var body = Object.assign({}, entry.body);
    if (entry.photos.length || entry.uploaded.length) { body.photos = entry.uploaded; }
    update(entry.id, {progress: "正在发送…"});
    return api.post(entry.path, body, entry.key).then(function (answer) {
      if (answer.status === 200 || answer.status === 201) {
        var code = answer.json.code || (answer.json.case_codes || []).join("、") || null;
        // Delivered: what it said (a villager's name, the parties' phones) leaves the phone.
        update(entry.id, {status: "sent", code: code, sentAt: Date.now(), error: null, progress: null,
          nil: answer.json.nil_return === true, body: null, draft: null});
        entry.photos.forEach(function (id) { photos.drop(id); });
      } else if (answer.status === 0 || answer.status >= 500 || answer.status === 429 || answer.status === 401
                 || (answer.status === 409 && answer.json.code === "request_in_flight")) {
        // Lost, busy, or the first try still being worked on: the same key again later.
        backoff(entry, answer.message);
        update(entry.id, {progress: null});
      } else {
        update(entry.id, {status: "failed", error: answer.message, progress: null});
      }
    });
  }

  function next() {
    var now = Date.now();
    var due = load().filter(function (e) { return e.status === "pending" && mine(e); });
    var ready = due.filter(function (e) { return e.nextAt <= now; });
    if (ready.length) { return ready[0]; }
    if (due.length) {
      var soonest = Math.min.apply(null, due.map(function (e) { return e.nextAt; }));
      clearTimeout(timer);
      timer = setTimeout(kick, Math.max(200, soonest - now));
    }
    return null;
  }

  function kick() {
    if (sending || !api || !api.signedIn()) { return; }
    var entry = next();
    if (!entry) { return; }
    sending = true;
    // One tab sends at a time (two would upload the same photos twice).
    var send = function () {
      var fresh = load().filter(function (e) { return e.id === entry.id && e.status === "pending"; })[0];
      return fresh ? sendOne(fresh).catch(function () { backoff(fresh, "网络不通"); }) : Promise.resolve();
    };
    var done = function () { sending = false; kick(); };
    if (navigator.locks && navigator.locks.request) {
      navigator.locks.request("wb-outbox", {ifAvailable: true}, function (lock) {
        if (!lock) { timer = setTimeout(kick, 2000); return null; }
        return send();
      }).then(done, done);
    } else {
      send().then(done, done);
    }
  }

  window.addEventListener("online", function () {
    // The network is back: whatever waits goes now, not at its backoff's end.
    var entries = load();
    entries.forEach(function (e) { if (e.status === "pending") { e.nextAt = 0; } });
    save(entries);
    kick();
  });

  window.Outbox = {
    start: function (client) { api = client; kick(); },
    newKey: newId,
    kick: kick,
    add: add,
    list: load,
    photos: photos,
    retry: function (id) { update(id, {status: "pending", nextAt: 0, error: null}); kick(); },
    // A report the server did not accept, back into the form to be put right (its photos
    // with it); the entry itself goes.
    restore: function (id) {
      var entry = load().filter(function (e) { return e.id === id; })[0];
      save(load().filter(function (e) { return e.id !== id; }));
      return entry;
    },
    pending: function () { return load().filter(function (e) { return e.status !== "sent" && mine(e); }); },
    remove: function (id) {
      var entries = load();
      entries.filter(function (e) { return e.id === id; }).forEach(function (e) {
        e.photos.forEach(function (p) { photos.drop(p); });
      });
      save(entries.filter(function (e) { return e.id !== id; }));
    },
    onChange: function (fn) { listeners.push(fn); },
    offChange: function (fn) { listeners = listeners.filter(function (f) { return f !== fn; }); }
  };
}());

// The phone workbench: every screen drawn from the JSON API (/api/v1), as the mini program
// will draw it. No framework and no build: one file, read top to bottom —
// the API client, then the screens (sign-in, 待办, 上报, 排查, 案件, 消息), then the router.
(function () {
  "use strict";
  var API = "/api/v1";
  var screen = document.getElementById("screen");
  var tabs = document.getElementById("tabs");
  var state = {
    token: localStorage.getItem("wb.token"),
    user: JSON.parse(localStorage.getItem("wb.user") || "null"),
    categories: null, villages: null, departments: null
  };

  // --- small helpers --------------------------------------------------------------------
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === "text") { node.textContent = v; } else if (k.slice(0, 2) === "on") {
        node.addEventListener(k.slice(2), v);
      } else if (k === "value") { node.value = v; } else { node.setAttribute(k, v === true ? "" : v); }
    });
    for (var i = 2; i < arguments.length; i++) { add(node, arguments[i]); }
    return node;
  }
  function add(node) {  // add(node, child, child, …): null and false are left out
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) { continue; }
      if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); continue; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  function show() {
    screen.textContent = "";
    add(screen, Array.prototype.slice.call(arguments));
    window.scrollTo(0, 0);
  }
  var TIME = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", month: "numeric",
    day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false});
  var DATE_YEAR = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "numeric",
    day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false});
  var YEAR = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric"});
  function when(iso) {  // the year only when it is not this one
    if (!iso) { return "—"; }
    var moment = new Date(iso);
    return (YEAR.format(moment) === YEAR.format(new Date()) ? TIME : DATE_YEAR).format(moment);
  }
  function display(code) { return code ? code.match(/.{1,4}/g).join("-") : ""; }
  function error(message) { return h("p", {"class": "error", role: "alert", text: message}); }
  function busy(button, text) { button.disabled = true; button.dataset.label = button.textContent; button.textContent = text; }
  function idle(button) { button.disabled = false; button.textContent = button.dataset.label || button.textContent; }
  function newKey() { return Outbox.newKey ? Outbox.newKey() : (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()); }

  // --- the API ----------------------------------------------------------------------------
  // Every answer resolves to {status, json, message}: status 0 when the network failed,
  // message always in Chinese (the server's own, or ours).
  // Messages about the request itself, not the case: said in words a person can act on.
  var PLAIN = {idempotency_key_reused: "这次提交与上次不同，请重新打开表单再提交。",
    idempotency_key_missing: "操作没有成功，请重新打开再试。", idempotency_key_invalid: "操作没有成功，请重新打开再试。"};
  function answer(status, json, path) {
    var message = json && (PLAIN[json.code] || json.message);
    if (!message) {
      message = status === 0 ? "网络不通，请稍后再试。" : status >= 500 ? "服务器暂时有问题，请稍后再试。"
        : status === 413 ? "照片太大。" : "操作没有成功，请稍后再试。";
    }
    if (status === 401 && state.token && !/auth\/(login|wechat)/.test(path || "")) { signedOut(message); }
    return {status: status, json: json || {}, message: message};
  }
  var TIMEOUT = 30000;  // a stalled rural connection must not hold the outbox for ever
  function request(method, path, body, key) {
    var headers = {"Accept": "application/json"};
    if (state.token) { headers.Authorization = "Bearer " + state.token; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (key) { headers["Idempotency-Key"] = key; }
    var abort = window.AbortController ? new AbortController() : null;
    var timer = abort ? setTimeout(function () { abort.abort(); }, TIMEOUT) : null;
    return fetch(API + path, {method: method, headers: headers, cache: "no-store", signal: abort && abort.signal,
      body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.text().then(function (text) {
          clearTimeout(timer);
          var json = null;
          try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
          return answer(r.status, json, path);
        });
      }).catch(function () { clearTimeout(timer); return answer(0, null, path); });
  }
  function get(path) { return request("GET", path); }
  // A key makes a resend of the same file (its answer lost) find the first upload.
  function upload(blob, progress, key) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("file", blob, "photo.jpg");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", API + "/media");
      xhr.setRequestHeader("Authorization", "Bearer " + state.token);
      if (key) { xhr.setRequestHeader("Idempotency-Key", key); }
      xhr.upload.onprogress = function (e) { if (e.lengthComputable && progress) { progress(Math.round(100 * e.loaded / e.total)); } };
      xhr.timeout = 4 * TIMEOUT;
      xhr.onload = function () {
        var json = null;
        try { json = JSON.parse(xhr.responseText); } catch (e) { json = null; }
        resolve(answer(xhr.status, json, "/media"));
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve(answer(0, null, "/media")); };
      xhr.send(data);
    });
  }
  Outbox.start({
    signedIn: function () { return !!state.token; },
    userId: function () { return state.user ? state.user.id : null; },
    upload: upload,
    post: function (path, body, key) { return request("POST", path, body, key); }
  });

  // The town's categories and villages, kept on the phone too: a village with no signal
  // is where a screening is filed, and its checklist must not come out empty.
  function referenceKey(name) { return "wb.ref." + (state.user ? state.user.id : "") + "." + name; }
  function reference(name, path) {
    if (state[name]) { return Promise.resolve(state[name]); }
    return get(path).then(function (a) {
      if (a.status === 200) {
        state[name] = a.json;
        try { localStorage.setItem(referenceKey(name), JSON.stringify(a.json)); } catch (e) { /* full: fetched next time */ }
        return state[name];
      }
      try { return JSON.parse(localStorage.getItem(referenceKey(name)) || "[]"); } catch (e) { return []; }
    });
  }

  // --- signing in and out -----------------------------------------------------------------
  function signedIn(json) {
    state.token = json.token; state.user = json.user;
    localStorage.setItem("wb.token", json.token);
    localStorage.setItem("wb.expires", json.expires_at);
    localStorage.setItem("wb.user", JSON.stringify(json.user));
    Outbox.kick();
  }
  function signedOut(message, calm) {  // calm: the person signed out, nothing went wrong
    // A shared phone keeps nothing of this person's draft (a villager's name in it).
    if (state.user) { dropDraft(state.user.id); }
    state.token = null; state.user = null; state.categories = state.villages = null;
    localStorage.removeItem("wb.token"); localStorage.removeItem("wb.user"); localStorage.removeItem("wb.expires");
    sessionStorage.setItem(calm ? "wb.bye" : "wb.why", message || "");
    location.hash = "#/login";
  }
  // A fresh value for each authorization, checked and forgotten on the way back.
  // (Before "_", the phone's own name: fake mode's offline WeChat knows a phone by it.)
  function newState() {
    var phone = localStorage.getItem("wb.phone");
    if (!phone) { phone = "wb" + newKey().replace(/-/g, "").slice(0, 16); localStorage.setItem("wb.phone", phone); }
    var s = phone + "_" + newKey().replace(/-/g, "").slice(0, 16);
    sessionStorage.setItem("wb.state", s);
    return s;
  }

  function loginScreen() {
    tabs.hidden = true;
    var why = sessionStorage.getItem("wb.why"); sessionStorage.removeItem("wb.why");
    var bye = sessionStorage.getItem("wb.bye"); sessionStorage.removeItem("wb.bye");
    var box = h("div", {"class": "messages"});
    if (why) { add(box, error(why)); }
    if (bye) { add(box, h("p", {"class": "notice", text: bye})); }
    var username = h("input", {id: "username", name: "username", autocomplete: "username", required: true, autocapitalize: "off"});
    var password = h("input", {id: "password", name: "password", type: "password", autocomplete: "current-password", required: true});
    var button = h("button", {type: "submit", text: "登录"});
    var form = h("form", {"class": "card", onsubmit: function (e) {
      e.preventDefault();
      box.textContent = "";
      busy(button, "正在登录…");
      request("POST", "/auth/login", {username: username.value.trim(), password: password.value}).then(function (a) {
        idle(button);
        if (a.json.code === "password_change_required") { newPassword(username.value.trim(), password.value, box); return; }
        if (a.status !== 200) { add(box, error(a.message)); return; }
        signedIn(a.json);
        if (sessionStorage.getItem("wb.bind")) { return authorize(); }
        location.hash = "#/";
      });
    }},
      h("label", {"for": "username", text: "账号"}), username,
      h("label", {"for": "password", text: "密码"}), password, button);
    var wechat = h("p", {"class": "wechat"});
    get("/auth/wechat-web/authorize?state=wbprobe0000").then(function (a) {
      if (a.status === 200) {
        add(wechat, h("button", {type: "button", "class": "secondary", text: "微信登录（已绑定的账号）",
          onclick: function () { authorize(); }}));
      }
    });
    show(h("h1", {text: "手机工作台"}), h("p", {"class": "lead", text: "网格员、调解员、法律顾问和部门处置人员在手机上办理。"}),
      box, form, wechat);
  }

  // After a reset, the person chooses their own password before anything else.
  function newPassword(name, given, box) {
    var first = h("input", {id: "new-password", type: "password", autocomplete: "new-password", required: true});
    var again = h("input", {id: "new-password-again", type: "password", autocomplete: "new-password", required: true});
    var button = h("button", {type: "submit", text: "保存新密码并登录"});
    var messages = h("div", {"class": "messages"});
    show(h("h1", {text: "设置新密码"}), h("p", {"class": "lead", text: "您的密码是他人重置的，请设置只有您自己知道的新密码。"}),
      messages, h("form", {"class": "card", onsubmit: function (e) {
        e.preventDefault();
        messages.textContent = "";
        if (first.value !== again.value) { add(messages, error("两次输入的新密码不一致。")); return; }
        busy(button, "正在保存…");
        request("POST", "/auth/password", {username: name, password: given, new_password: first.value}).then(function (a) {
          idle(button);
          if (a.status !== 200) { add(messages, error(a.message)); return; }
          signedIn(a.json);
          location.hash = "#/"; route();
        });
      }}, h("label", {"for": "new-password", text: "新密码"}), first,
        h("label", {"for": "new-password-again", text: "再输一次"}), again, button,
        h("p", {"class": "note", text: "至少 8 位，并包含大写字母、小写字母、数字、符号中的至少三类。"})));
  }

  // Back from the official account's web authorization (?code=…&state=…).
  function authorize() {
    return get("/auth/wechat-web/authorize?state=" + newState()).then(function (a) {
      if (a.status === 200) { location.href = a.json.url; } else { sessionStorage.removeItem("wb.bind"); location.hash = "#/"; }
    });
  }
  function webCallback() {
    var params = new URLSearchParams(location.search);
    var code = params.get("code");
    if (!code) { return Promise.resolve(); }
    history.replaceState(null, "", location.pathname + "#/");
    var expected = sessionStorage.getItem("wb.state");
    sessionStorage.removeItem("wb.state");
    if (!expected || params.get("state") !== expected) {
      sessionStorage.setItem("wb.why", "微信登录没有完成，请再试一次或用账号密码登录。");
      return Promise.resolve();
    }
    if (state.token && sessionStorage.getItem("wb.bind")) {
      sessionStorage.removeItem("wb.bind");
      return request("POST", "/auth/wechat-web/bind", {code: code}).then(function (a) {
        sessionStorage.setItem("wb.notice", a.status === 200 ? "已绑定微信：下次从公众号菜单进入即可免密登录。" : a.message);
      });
    }
    return request("POST", "/auth/wechat-web", {code: code}).then(function (a) {
      if (a.status === 200) { signedIn(a.json); return; }
      if (a.json.code === "wechat_not_bound") { sessionStorage.setItem("wb.bind", "1"); }
      sessionStorage.setItem("wb.why", a.message);
    });
  }

  // --- 待办 (home) ------------------------------------------------------------------------
  var DUE = {overdue: "已超期", soon: "即将到期", ok: ""};
  function caseRow(item) {
    var c = item.case || item;
    var due = item.due || (c.overdue ? "overdue" : "ok");
    return h("li", {"class": "case due-" + due},
      h("a", {href: "#/case/" + c.code},
        h("span", {"class": "line"}, h("b", {text: c.category.name}), " · ", c.village.name,
          h("span", {"class": "status", text: c.status_label})),
        h("span", {"class": "summary", text: c.summary}),
        h("span", {"class": "meta"}, h("span", {"class": "code", text: display(c.code)}),
          c.due_at ? " · 期限 " + when(c.due_at) : "", DUE[due] ? h("em", {text: " " + DUE[due]}) : null)));
  }
  function list(title, items, empty, id) {
    return h("section", {"class": "block", id: id}, h("h2", {}, title, h("span", {"class": "count", text: String(items.length)})),
      items.length ? h("ul", {"class": "cases"}, items.map(caseRow)) : h("p", {"class": "note", text: empty}));
  }
  // The phone's own reports, redrawn as the outbox sends them (while on the screen).
  function outboxBlock() {
    var wrap = h("div", {"class": "outbox-wrap"});
    function draw() {
      if (!wrap.isConnected && wrap.dataset.drawn) { Outbox.offChange(draw); return; }
      wrap.dataset.drawn = "1";
      wrap.textContent = "";
      add(wrap, outboxList());
    }
    draw();
    Outbox.onChange(draw);
    return wrap;
  }
  function outboxList() {
    var entries = Outbox.list().filter(function (e) { return state.user && e.user === state.user.id; });
    if (!entries.length) { return null; }
    var STATUS = {pending: "待发送", sent: "已送达", failed: "需要修改"};
    return h("section", {"class": "block outbox", id: "outbox"}, h("h2", {text: "我的上报（本机）"}),
      h("ul", {"class": "entries"}, entries.slice(0, 10).map(function (e) {
        return h("li", {"class": "entry " + e.status},
          h("span", {"class": "line"}, h("b", {"class": "state", text: STATUS[e.status]}), " ", e.label || ""),
          e.code ? h("span", {"class": "meta"}, "编号 ", h("a", {href: e.kind === "report" ? "#/case/" + e.code : "#/screening", "class": "code", text: e.kind === "report" ? display(e.code) : e.code})) : null,
          e.nil ? h("span", {"class": "meta", text: "零报告已提交"}) : null,
          e.progress ? h("span", {"class": "meta", text: e.progress}) : null,
          e.status === "pending" && e.error ? h("span", {"class": "meta", text: "上次没有送达（" + e.error + "），稍后自动重发"}) : null,
          e.skipped ? h("span", {"class": "meta", text: e.skipped + " 张照片无法上传，已略过"}) : null,
          e.status === "failed" ? [h("span", {"class": "error", text: e.error}),
            e.draft ? h("button", {type: "button", "class": "small", text: "修改后重新提交", onclick: function () {
              var back = Outbox.restore(e.id);
              keepDraft(back.draft);
              location.hash = "#/report"; route();
            }}) : null,
            h("button", {type: "button", "class": "small secondary", text: "放弃这份上报", onclick: function () {
              if (window.confirm("放弃后这份上报的内容将删除，确定吗？")) { Outbox.remove(e.id); route(); }
            }})] : null);
      })));
  }
  function home() {
    var notice = sessionStorage.getItem("wb.notice"); sessionStorage.removeItem("wb.notice");
    show(h("p", {"class": "loading", text: "正在读取待办…"}));
    get("/todo").then(function (a) {
      if (a.status !== 200) { show(error(a.message)); return; }
      var t = a.json;
      var blocks = [h("h1", {}, "我的待办", h("small", {text: " " + (state.user.display_name || "")}))];
      if (notice) { blocks.push(h("p", {"class": "notice", text: notice})); }
      if (t.unread) {
        blocks.push(h("section", {"class": "block unread"}, h("h2", {}, h("a", {href: "#/inbox", text: "未读消息 " + t.unread + " 条"})),
          h("ul", {"class": "messages"}, t.messages.map(function (m) {
            return h("li", {}, h("b", {text: m.title}), " ", m.body,
              m.case_code ? h("a", {href: "#/case/" + m.case_code, "class": "code", text: " " + m.case_display_code}) : null);
          }))));
      }
      if (t.screening.length) { blocks.push(screeningWeek(t.screening)); }
      blocks.push(outboxBlock());
      var role = state.user.role;
      if (role === "handler") {
        blocks.push(list("待签收", t.to_sign, "没有待签收的案件。", "to-sign"));
        blocks.push(list("办理中", t.in_hand, "没有在办的案件。", "in-hand"));
      } else if (role === "grid_worker") {
        blocks.push(list("待回访", t.visits, "没有待回访的案件。", "visits"));
      } else {
        blocks.push(h("p", {"class": "note", text: "调处中心和领导请在电脑上的后台受理、派遣和督办案件；这里可以查看案件和消息。"}));
      }
      if (t.truncated) { blocks.push(h("p", {"class": "note", text: "案件较多，这里只列出最急的 200 件，其余请在“案件”中查看。"})); }
      show(blocks);
    });
  }
  function screeningWeek(weeks) {
    return h("section", {"class": "block screening-week", id: "screening-week"}, h("h2", {text: "本周排查"}),
      h("ul", {"class": "villages"}, weeks.map(function (w) {
        var button = w.complete ? null : h("button", {type: "button", "class": "nil", text: "零报告（本周排查无发现）",
          onclick: function () { nilReturn(w.village, button); }});
        return h("li", {"class": w.complete ? "done" : "todo"},
          h("span", {"class": "line"}, h("b", {text: w.village.name}),
            h("span", {"class": "status", text: w.complete ? "已完成 " + w.done + "/" + w.required : "未完成 " + w.done + "/" + w.required})),
          button);
      })));
  }
  // A screening counts in the week it was done, not the one the outbox reaches the
  // server in (Sunday 23:58, sent Monday 00:03): it carries the moment of the tap.
  function nilReturn(village, button) {
    busy(button, "正在提交…");
    var done_at = new Date().toISOString();
    reference("categories", "/categories").then(function (categories) {
      if (!categories.length) {  // never loaded on this phone, and no network now
        idle(button);
        add(button.parentNode, error("网络不通，暂时无法提交零报告，请有信号时再试。"));
        return;
      }
      var entry = Outbox.add("screening", "/screenings", {village: village.id, checked: categories.map(function (c) { return c.code; }), findings: [], screened_at: done_at},
        [], village.name + " 零报告");
      button.replaceWith(h("span", {"class": "status", text: "零报告已保存，正在发送"}));
      var done = function (entries) {
        var sent = entries.filter(function (e) { return e.id === entry.id && e.status === "sent"; });
        if (sent.length) { Outbox.offChange(done); if (location.hash === "#/" || location.hash === "") { home(); } }
      };
      Outbox.onChange(done);
    });
  }

  // --- 上报 --------------------------------------------------------------------------------
  // The draft is the account's own (a shared phone), and gone when it signs out.
  function draftKey(userId) { return "wb.draft.report." + userId; }
  function draft() { try { return JSON.parse(localStorage.getItem(draftKey(state.user.id)) || "{}"); } catch (e) { return {}; } }
  function keepDraft(d) { localStorage.setItem(draftKey(state.user.id), JSON.stringify(d)); }
  function dropDraft(userId) {
    var key = draftKey(userId);
    try { (JSON.parse(localStorage.getItem(key) || "{}").photos || []).forEach(function (id) { Outbox.photos.drop(id); }); } catch (e) { /* none */ }
    localStorage.removeItem(key);
  }
  var DISPUTE = "dispute";

  function reportScreen() {
    if (state.user.role !== "grid_worker") {
      show(h("h1", {text: "上报"}), h("p", {"class": "note", text: "本账号不直接上报；群众扫码上报、网格员上报的案件会派到本部门。"}), outboxBlock());
      return;
    }
    Promise.all([reference("categories", "/categories"), reference("villages", "/villages")]).then(function (loaded) {
      drawReport(loaded[0], loaded[1]);
    });
  }

  function drawReport(categories, villages) {
    var d = draft();
    var grids = state.user.grids || [];
    if (!d.village && grids.length) { d.village = String(grids[0].village.id); d.grid = String(grids[0].id); }
    if (!d.parties) { d.parties = [{name: "", side: "applicant", phone: ""}, {name: "", side: "respondent", phone: ""}]; }
    d.photos = d.photos || [];
    var form = h("form", {"class": "report", id: "report-form", novalidate: true});
    var box = h("div", {"class": "messages"});
    function save() { keepDraft(d); }

    // The kind, in plain words, grouped as the town groups them.
    var groups = {};
    categories.forEach(function (c) { (groups[c.group_label] = groups[c.group_label] || []).push(c); });
    var kinds = h("fieldset", {"class": "kinds"}, h("legend", {text: "什么问题"}));
    // One group open at a time (a tap on its name), so the list fits a phone's screen.
    Object.keys(groups).forEach(function (label) {
      var open = groups[label].some(function (c) { return c.code === d.category; });
      var group = h("details", {"class": "group", open: open}, h("summary", {text: label + "（" + groups[label].length + " 类）"}));
      groups[label].forEach(function (c) {
        var input = h("input", {type: "radio", name: "category", value: c.code, checked: d.category === c.code,
          onchange: function () { d.category = c.code; save(); sync(); }});
        add(group, h("label", {"class": "choice"}, input, h("span", {}, c.name, c.hint ? h("small", {text: c.hint}) : null)));
      });
      group.addEventListener("toggle", function () {
        if (group.open) { kinds.querySelectorAll("details").forEach(function (other) { if (other !== group) { other.open = false; } }); }
      });
      add(kinds, group);
    });
    function category() { return categories.filter(function (c) { return c.code === d.category; })[0]; }

    var village = h("select", {id: "village", name: "village", onchange: function () { d.village = village.value; d.grid = ""; save(); fillGrids(); }},
      villages.map(function (v) { return h("option", {value: String(v.id), selected: String(v.id) === d.village, text: villageName(v, villages)}); }));
    if (!d.village && villages.length) { d.village = String(villages[0].id); }
    var grid = h("select", {id: "grid", name: "grid", onchange: function () { d.grid = grid.value; save(); }});
    function fillGrids() {
      grid.textContent = "";
      add(grid, h("option", {value: "", text: "不指定网格"}));
      var v = villages.filter(function (x) { return String(x.id) === d.village; })[0];
      (v ? v.grids : []).forEach(function (g) { add(grid, h("option", {value: String(g.id), selected: String(g.id) === d.grid, text: g.name})); });
    }
    fillGrids();

    function text(name, label, attrs) {
      var input = h(attrs && attrs.rows ? "textarea" : "input", Object.assign({id: name, name: name, value: d[name] || "",
        oninput: function () { d[name] = input.value; save(); }}, attrs || {}));
      return [h("label", {"for": name, text: label}), input];
    }
    function check(name, label, hint) {
      var input = h("input", {type: "checkbox", id: name, name: name, checked: !!d[name], onchange: function () { d[name] = input.checked; save(); sync(); }});
      return h("label", {"class": "choice", "for": name}, input, h("span", {}, label, hint ? h("small", {text: hint}) : null));
    }

    // The parties of a dispute: 申请人 / 被申请人, a phone if they give one.
    var parties = h("fieldset", {"class": "parties", id: "parties"}, h("legend", {text: "当事人"}));
    function drawParties() {
      parties.querySelectorAll(".party").forEach(function (n) { n.remove(); });
      d.parties.forEach(function (p, i) {
        var name = h("input", {name: "party-name", "aria-label": "姓名", placeholder: "姓名", value: p.name, oninput: function () { p.name = name.value; save(); }});
        var side = h("select", {name: "party-side", "aria-label": "身份", onchange: function () { p.side = side.value; save(); }},
          h("option", {value: "applicant", selected: p.side === "applicant", text: "申请人"}),
          h("option", {value: "respondent", selected: p.side === "respondent", text: "被申请人"}));
        var phone = h("input", {name: "party-phone", type: "tel", "aria-label": "电话（可不填）", placeholder: "电话（可不填）", value: p.phone || "", oninput: function () { p.phone = phone.value; save(); }});
        var drop = h("button", {type: "button", "class": "small secondary", text: "删除", onclick: function () { d.parties.splice(i, 1); save(); drawParties(); }});
        parties.insertBefore(h("div", {"class": "party"}, side, name, phone, drop), more);
      });
    }
    var more = h("button", {type: "button", "class": "secondary", text: "添加当事人", onclick: function () { d.parties.push({name: "", side: "respondent", phone: ""}); save(); drawParties(); }});
    add(parties, more);
    drawParties();

    // Filing for a villager: what they agreed to.
    var consent = h("fieldset", {"class": "consent", id: "consent"}, h("legend", {text: "村民的意见"}),
      h("label", {"class": "choice"}, h("input", {type: "radio", name: "consent", value: "anonymous", checked: d.consent !== "named", onchange: function () { d.consent = "anonymous"; save(); sync(); }}),
        h("span", {}, "村民同意上报，不留姓名")),
      h("label", {"class": "choice"}, h("input", {type: "radio", name: "consent", value: "named", checked: d.consent === "named", onchange: function () { d.consent = "named"; save(); sync(); }}),
        h("span", {}, "村民同意上报并留下姓名", h("small", {text: "姓名和电话只有调处中心能看到"}))));
    var identity = h("div", {"class": "identity"}, text("villager_name", "村民姓名"), text("villager_phone", "村民电话", {type: "tel"}));
    add(consent, identity);

    // Photos: made small on the phone as they are chosen, kept until the report is sent.
    var previews = h("div", {"class": "previews", id: "previews"});
    function drawPreviews() {
      previews.textContent = "";
      d.photos.forEach(function (id, i) {
        Outbox.photos.get(id).then(function (blob) {
          if (!blob) { return; }
          var img = h("img", {alt: "照片 " + (i + 1), src: URL.createObjectURL(blob)});
          add(previews, h("span", {"class": "preview"}, img, h("button", {type: "button", "class": "small secondary", text: "删除",
            onclick: function () { Outbox.photos.drop(id); d.photos.splice(d.photos.indexOf(id), 1); save(); drawPreviews(); }})));
        });
      });
    }
    var picker = h("input", {type: "file", id: "photos", name: "photos", accept: "image/*", multiple: true, "class": "file",
      onchange: function () {
        var files = Array.prototype.slice.call(picker.files).slice(0, 9 - d.photos.length);
        if (!files.length) { return; }
        photoNote.textContent = "正在压缩照片…";
        compressing += 1; submit.disabled = true;
        Promise.all(files.map(function (f) { return window.shrinkPhoto(f).then(Outbox.photos.put); })).then(function (ids) {
          compressing -= 1; submit.disabled = compressing > 0 || submitted;
          if (submitted) { ids.forEach(function (id) { Outbox.photos.drop(id); }); return; }  // too late
          d.photos = d.photos.concat(ids); save(); picker.value = ""; photoNote.textContent = "已选 " + d.photos.length + " 张"; drawPreviews();
        });
      }});
    var compressing = 0, submitted = false;
    var photoNote = h("span", {"class": "meta", id: "photo-note"});
    drawPreviews();

    var submit = h("button", {type: "submit", text: "提交上报"});
    var happening = check("happening_now", "正在发生", "需要马上处置的，选此项会立即通知");
    add(form, box, kinds,
      h("label", {"for": "village", text: "村"}), village,
      h("label", {"for": "grid", text: "网格"}), grid,
      text("description", "发生了什么", {rows: 4, maxlength: 2000, required: true}),
      text("place_text", "地点", {maxlength: 200, placeholder: "如：三组张家门口"}),
      happening,
      text("people_involved", "涉及人数", {type: "number", min: 1, inputmode: "numeric"}),
      check("group_dispute", "群体性纠纷"), check("criminal_risk", "有民转刑风险", "可能激化为刑事案件"),
      parties,
      check("on_behalf", "代村民上报", "村民当面反映、由我代为上报"), consent,
      h("label", {"class": "button secondary photo-pick", "for": "photos", text: "拍照或从相册选择"}), picker, photoNote, previews,
      submit);
    function sync() {
      var c = category();
      parties.hidden = !(c && c.group === DISPUTE);
      consent.hidden = !d.on_behalf;
      identity.hidden = d.consent !== "named";
    }
    sync();

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (submitted || compressing) { return; }  // a double tap files one report
      box.textContent = "";
      var c = category();
      var problems = [];
      if (!c) { problems.push("请选择问题类别。"); }
      if (!(d.description || "").trim()) { problems.push("请描述发生了什么。"); }
      var people = parseInt(d.people_involved || "1", 10);
      if (!(people >= 1)) { problems.push("涉及人数须为正整数。"); }
      var named = d.on_behalf && d.consent === "named";
      if (named && !(d.villager_name || "").trim() && !(d.villager_phone || "").trim()) { problems.push("留名上报请填写村民姓名或电话。"); }
      var partyList = c && c.group === DISPUTE ? d.parties.filter(function (p) { return (p.name || "").trim(); }) : [];
      if (problems.length) { problems.forEach(function (p) { add(box, error(p)); }); box.scrollIntoView(); return; }
      var body = {category: c.code, village: parseInt(d.village, 10), description: d.description.trim(),
        place_text: (d.place_text || "").trim() || null, people_involved: people,
        happening_now: !!d.happening_now, group_dispute: !!d.group_dispute, criminal_risk: !!d.criminal_risk,
        parties: partyList.map(function (p) { return {name: p.name.trim(), side: p.side, phone: (p.phone || "").trim() || null}; }),
        reporter: d.on_behalf ? (named ? {on_behalf: true, anonymous: false, name: (d.villager_name || "").trim() || null,
          phone: (d.villager_phone || "").trim() || null} : {on_behalf: true, anonymous: true}) : {anonymous: true}};
      if (d.grid) { body.grid = parseInt(d.grid, 10); }
      var village = villages.filter(function (v) { return String(v.id) === d.village; })[0];
      submitted = true; submit.disabled = true;
      Outbox.add("report", "/reports", body, d.photos, c.name + " · " + (village ? village.name : ""), d);
      localStorage.removeItem(draftKey(state.user.id));  // the photos now belong to the outbox entry
      sessionStorage.setItem("wb.notice", "已保存到本机，正在发送；网络不好时会自动重发。");
      location.hash = "#/sent";
    });
    show(h("h1", {text: "上报"}), outboxBlock(), form);
  }

  function sentScreen() {
    var notice = sessionStorage.getItem("wb.notice"); sessionStorage.removeItem("wb.notice");
    show(h("h1", {text: "已保存"}), notice ? h("p", {"class": "notice", text: notice}) : null, outboxBlock(),
      h("a", {"class": "button", href: "#/report", text: "再报一件"}), h("a", {"class": "button secondary", href: "#/cases", text: "查看我的案件"}));
  }

  // --- 排查 --------------------------------------------------------------------------------
  // A village as a choice list names it: after its town where the list holds several
  // towns' villages (a district's people: two towns may each have a 东村).
  function villageName(v, all) {
    var several = all.some(function (x) { return x.town_id !== all[0].town_id; });
    return several ? v.town_name + "·" + v.name : v.name;
  }

  function screeningScreen() {
    Promise.all([reference("categories", "/categories"), reference("villages", "/villages")]).then(function (loaded) {
      var categories = loaded[0], villages = loaded[1];
      var box = h("div", {"class": "messages"});
      var village = h("select", {id: "screening-village"}, villages.map(function (v) { return h("option", {value: String(v.id), text: villageName(v, villages)}); }));
      var findings = [];
      var checks = h("fieldset", {"class": "checklist"}, h("legend", {text: "本次排查的项目"}));
      var groups = {};
      categories.forEach(function (c) { (groups[c.group_label] = groups[c.group_label] || []).push(c); });
      Object.keys(groups).forEach(function (label) {
        var group = h("details", {"class": "group"}, h("summary", {text: label + "（" + groups[label].length + " 项，已全部勾选）"}));
        groups[label].forEach(function (c) {
          add(group, h("label", {"class": "choice"}, h("input", {type: "checkbox", name: "checked", value: c.code, checked: true}), h("span", {text: c.name})));
        });
        add(checks, group);
      });
      var found = h("ul", {"class": "findings"});
      var kind = h("select", {id: "finding-category"}, categories.map(function (c) { return h("option", {value: c.code, text: c.group_label + " · " + c.name}); }));
      var what = h("textarea", {id: "finding-description", rows: 3, maxlength: 2000});
      var where = h("input", {id: "finding-place", maxlength: 200});
      function drawFound() {
        found.textContent = "";
        findings.forEach(function (f, i) {
          add(found, h("li", {}, h("b", {text: categories.filter(function (c) { return c.code === f.category; })[0].name}), " ", f.description,
            h("button", {type: "button", "class": "small secondary", text: "删除", onclick: function () { findings.splice(i, 1); drawFound(); }})));
        });
        send.textContent = findings.length ? "提交排查（" + findings.length + " 个发现）" : "提交排查（零报告）";
      }
      var send = h("button", {type: "button", id: "screening-send", onclick: function () {
        if (send.disabled) { return; }
        box.textContent = "";
        var checked = Array.prototype.map.call(checks.querySelectorAll("input:checked"), function (i) { return i.value; });
        if (!checked.length) { add(box, error("请勾选本次排查的项目。")); return; }
        var name = village.options[village.selectedIndex].text;
        send.disabled = true;
        Outbox.add("screening", "/screenings", {village: parseInt(village.value, 10), checked: checked, findings: findings.slice(), screened_at: new Date().toISOString()}, [],
          name + (findings.length ? " 排查 " + findings.length + " 个发现" : " 零报告"));
        sessionStorage.setItem("wb.notice", "排查已保存到本机，正在发送。");
        location.hash = "#/sent";
      }});
      drawFound();
      show(h("h1", {text: "排查"}), box,
        h("label", {"for": "screening-village", text: "村"}), village, checks,
        h("section", {"class": "block"}, h("h2", {text: "发现的问题"}), found,
          h("label", {"for": "finding-category", text: "类别"}), kind,
          h("label", {"for": "finding-description", text: "情况"}), what,
          h("label", {"for": "finding-place", text: "地点"}), where,
          h("button", {type: "button", "class": "secondary", text: "加入发现", onclick: function () {
            if (!what.value.trim()) { add(box, error("请写明发现的情况。")); return; }
            findings.push({category: kind.value, description: what.value.trim(), place_text: where.value.trim() || null});
            what.value = ""; where.value = ""; drawFound();
          }})),
        send, h("p", {"class": "note", text: "没有发现问题也请提交：零报告同样计入排查。每个发现会成为一件案件。"}));
    });
  }

  // --- 我的案件 ------------------------------------------------------------------------------
  var STATUSES = [["", "全部"], ["dispatched", "待签收"], ["in_progress", "处置中"], ["resolved", "已办结"],
    ["follow_up", "待回访"], ["closed", "已结案"]];
  function casesScreen() {
    var params = new URLSearchParams(location.hash.split("?")[1] || "");
    var status = h("select", {id: "filter-status", "aria-label": "状态", onchange: reload},
      STATUSES.map(function (s) { return h("option", {value: s[0], selected: params.get("status") === s[0], text: s[1]}); }));
    var overdue = h("input", {type: "checkbox", id: "filter-overdue", checked: params.get("overdue") === "1", onchange: reload});
    var items = h("ul", {"class": "cases", id: "case-list"});
    var more = h("button", {type: "button", "class": "secondary", text: "加载更多", hidden: true});
    var box = h("div", {"class": "messages"});
    var cursor = null;
    function reload() {
      location.replace("#/cases?" + new URLSearchParams({status: status.value, overdue: overdue.checked ? "1" : ""}).toString());
    }
    function page() {
      var q = new URLSearchParams({limit: "20"});
      if (status.value) { q.set("status", status.value); }
      if (overdue.checked) { q.set("overdue", "true"); }
      if (cursor) { q.set("cursor", cursor); }
      more.hidden = true;
      return get("/cases?" + q.toString()).then(function (a) {
        if (a.status !== 200) { add(box, error(a.message)); return; }
        a.json.items.forEach(function (c) { add(items, caseRow(c)); });
        if (!a.json.items.length && !cursor) { add(items, h("li", {"class": "note", text: "没有案件。"})); }
        cursor = a.json.next_cursor;
        more.hidden = !cursor;
      });
    }
    more.addEventListener("click", page);
    show(h("h1", {text: "我的案件"}), h("div", {"class": "filters"}, status, h("label", {"class": "choice inline", "for": "filter-overdue"}, overdue, h("span", {text: "只看超期"}))),
      box, items, more);
    page();
  }

  function caseScreen(code) {
    show(h("p", {"class": "loading", text: "正在读取案件…"}));
    get("/cases/" + encodeURIComponent(code)).then(function (a) {
      if (a.status !== 200) { show(h("h1", {text: "案件"}), error(a.message)); return; }
      drawCase(a.json);
    });
  }

  function drawCase(c) {
    var box = h("div", {"class": "messages", id: "case-messages"});
    var facts = h("dl", {"class": "facts"},
      h("dt", {text: "编号"}), h("dd", {"class": "code", id: "case-code", text: display(c.code)}),
      h("dt", {text: "状态"}), h("dd", {id: "case-status", text: c.status_label + (c.overdue ? "（已超期）" : "")}),
      h("dt", {text: "类别"}), h("dd", {text: c.category.group_label + " · " + c.category.name}),
      h("dt", {text: "村"}), h("dd", {text: c.village.name + (c.grid ? " · " + c.grid.name : "")}),
      c.place_text ? [h("dt", {text: "地点"}), h("dd", {text: c.place_text})] : null,
      c.due_at ? [h("dt", {text: "期限"}), h("dd", {text: when(c.due_at)})] : null,
      h("dt", {text: "上报"}), h("dd", {text: when(c.created_at)}),
      c.parties.length ? [h("dt", {text: "当事人"}), h("dd", {text: c.parties.map(function (p) { return (p.side === "applicant" ? "申请人 " : "被申请人 ") + p.name; }).join("；")})] : null,
      c.lead_department ? [h("dt", {text: "主办"}), h("dd", {text: c.lead_department.name})] : null,
      c.result_text ? [h("dt", {text: "办结情况"}), h("dd", {text: c.result_text})] : null,
      c.reporter_consent ? [h("dt", {text: "代村民上报"}), h("dd", {text: c.reporter_consent === "named" ? "村民留名（仅调处中心可见）" : "村民不留姓名"})] : null);
    // Photos are read with the person's token (no cookie carries it), then shown.
    var photos = c.photos.length ? h("div", {"class": "photos"}, c.photos.map(function (p) {
      var img = h("img", {alt: "现场照片"});
      var link = h("a", {href: "#", onclick: function (e) {
        e.preventDefault();
        photoBlob(p.url).then(function (url) { if (url) { window.open(url, "_blank"); } });
      }}, img);
      photoBlob(p.thumbnail_url).then(function (url) { if (url) { img.src = url; } });
      return link;
    })) : null;
    var actions = h("div", {"class": "actions", id: "actions"});
    var panel = h("div", {"class": "action-panel", id: "action-panel"});
    c.actions.forEach(function (action) {
      add(actions, h("button", {type: "button", "class": "action", "data-action": action.action, text: action.label,
        onclick: function () { actionForm(c, action, panel, box); }}));
    });
    // 批示: a leader's instructions stay on top until the center marks them carried out.
    var waiting = c.instructions.filter(function (i) { return !i.carried_out_at; });
    var instructions = waiting.length ? h("div", {"class": "instructions", id: "instructions", role: "note"},
      h("h2", {text: "领导批示（待落实）"}),
      waiting.map(function (i) {
        return h("p", {}, h("span", {"class": "note-text", text: i.text}),
          h("span", {"class": "meta", text: i.author + " · " + when(i.at)}));
      })) : null;
    var timeline = h("ol", {"class": "timeline"}, c.timeline.slice().reverse().map(function (e) {
      return h("li", {}, h("span", {"class": "meta", text: when(e.at) + (e.actor ? " · " + e.actor : "")}), h("b", {text: e.label}), e.note ? h("span", {"class": "note-text", text: e.note}) : null);
    }));
    var papers = h("div", {"class": "papers", id: "papers"});
    show(h("h1", {text: c.category.name}), box, instructions, facts, h("p", {"class": "description", text: c.description}), photos,
      c.actions.length ? h("h2", {text: "现在可以"}) : null, actions, panel, papers, h("h2", {text: "办理经过"}), timeline);
    if (c.category.group === "dispute") { papersBlock(c, papers, box); }
  }

  // --- 调解文书: the mediation papers of a dispute, made from templates and kept here ---------
  function papersBlock(c, papers, box) {
    get("/cases/" + encodeURIComponent(c.code) + "/documents").then(function (a) {
      papers.textContent = "";
      if (a.status !== 200) { return; }
      var list = a.json;
      if (!list.items.length && !list.kinds.length) { return; }
      var editor = h("div", {"class": "paper-editor", id: "paper-editor"});
      add(papers, h("h2", {text: "调解文书"}),
        list.items.length ? h("ul", {"class": "entries"}, list.items.map(function (d) {
          return h("li", {}, h("a", {href: "#", "data-paper": d.kind, text: d.title, onclick: function (e) {
            e.preventDefault(); paperForm(c, d, editor, box, papers);
          }}), h("span", {"class": "meta", text: " " + d.number + (d.scans.length ? " · 已签字上传" : "")}));
        })) : h("p", {"class": "note", text: "尚无调解文书。"}));
      if (list.kinds.length) {
        var kind = h("select", {id: "paper-kind", "aria-label": "文书种类"}, list.kinds.map(function (k) { return h("option", {value: k.kind, text: k.title}); }));
        var key = newKey();
        var make = h("button", {type: "button", "class": "secondary", text: "按模板制作", onclick: function () {
          busy(make, "正在制作…");
          request("POST", "/cases/" + encodeURIComponent(c.code) + "/documents", {kind: kind.value}, key).then(function (r) {
            idle(make);
            if (r.status === 201) { key = newKey(); papersBlock(c, papers, box); return; }
            // A refusal: what is sent next is another request. Not while the first is in
            // flight or unanswered (it may have made the paper: the same key finds it).
            if (r.status !== 0 && r.status < 500 && r.json.code !== "request_in_flight") { key = newKey(); }
            add(box, error(r.message));
          });
        }});
        add(papers, h("p", {"class": "make-paper"}, kind, make));
      }
      add(papers, editor);
    });
  }

  var scanKeys = {};
  function paperForm(c, d, editor, box, papers) {
    editor.textContent = "";
    var inputs = {};
    var form = h("form", {"class": "card paper-form", "data-paper": d.kind}, h("h3", {text: d.title + " " + d.number}));
    d.fields.forEach(function (f) {
      var id = "p-" + f.name, value = d.content[f.name] || "";
      var input = f.kind === "text" ? h("textarea", {id: id, rows: 5, maxlength: 2000})
        : h("input", {id: id, type: f.kind === "date" ? "date" : "text", maxlength: 200});
      input.value = value;
      input.disabled = !d.editable;
      inputs[f.name] = input;
      add(form, h("label", {"for": id, text: f.label}), input);
    });
    var rows = [];
    if (d.kind === "agreement") {
      var terms = h("fieldset", {"class": "terms"}, h("legend", {text: "协议条款（内容、履行方式、期限）"}));
      var addRow = function (t) {
        var row = {text: h("input", {maxlength: 500, placeholder: "协议内容", value: t.text || ""}),
          performance: h("input", {maxlength: 200, placeholder: "履行方式", value: t.performance || ""}),
          due_on: h("input", {type: "date", value: t.due_on || ""})};
        Object.keys(row).forEach(function (k) { row[k].disabled = !d.editable; });
        rows.push(row);
        add(terms, h("p", {"class": "term"}, row.text, row.performance, row.due_on));
      };
      d.terms.forEach(addRow);
      if (d.editable) { addRow({}); }
      add(form, terms, d.editable ? h("button", {type: "button", "class": "small secondary", text: "再加一项", onclick: function () { addRow({}); }}) : null);
    }
    if (d.editable) {
      var save = h("button", {type: "submit", text: "保存文书"});
      add(form, save);
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var body = {version: d.version, content: {}};
        Object.keys(inputs).forEach(function (n) { body.content[n] = inputs[n].value; });
        if (d.kind === "agreement") {
          body.terms = rows.filter(function (r) { return r.text.value.trim(); }).map(function (r) {
            return {text: r.text.value.trim(), performance: r.performance.value.trim(), due_on: r.due_on.value || null};
          });
        }
        busy(save, "正在保存…");
        request("PATCH", "/cases/" + encodeURIComponent(c.code) + "/documents/" + d.id, body).then(function (a) {
          idle(save);
          if (a.status === 200) { paperForm(c, a.json, editor, box, papers); add(editor, h("p", {"class": "notice", text: "文书已保存。"})); return; }
          add(editor, error(a.message));
        });
      });
    }
    if (d.editable || d.scans.length) {
      var note = h("span", {"class": "meta", text: d.scans.length ? "已上传 " + d.scans.length + " 份签字件" : ""});
      var picker = h("input", {type: "file", accept: "image/*,application/pdf", id: "scan-file", "class": "file", onchange: function () {
        var file = picker.files[0];
        if (!file) { return; }
        note.textContent = "正在上传…";
        // The same file picked again after a lost answer goes with the same key: the scan
        // the first try filed is found, not filed twice. Forgotten once answered.
        var which = [d.id, file.name, file.size, file.lastModified].join("|");
        var key = scanKeys[which] = scanKeys[which] || newKey();
        var send = file.type === "application/pdf" ? Promise.resolve(file) : window.shrinkPhoto(file);
        send.then(function (blob) { return uploadScan(c.code, d.id, blob, file.type === "application/pdf" ? "scan.pdf" : "scan.jpg", key); }).then(function (a) {
          if (a.status !== 0 && a.status < 500 && a.json.code !== "request_in_flight") { delete scanKeys[which]; }
          if (a.status === 201) { papersBlock(c, papers, box); return; }
          note.textContent = "";
          add(editor, error(a.message));
        });
      }});
      add(form, d.editable ? [h("label", {"class": "button secondary photo-pick", "for": "scan-file", text: "上传签字件（照片或 PDF）"}), picker] : null, note);
    }
    add(editor, form);
    form.scrollIntoView();
  }

  function uploadScan(code, id, blob, name, key) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("file", blob, name);
      var path = "/cases/" + encodeURIComponent(code) + "/documents/" + id + "/scans";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", API + path);
      xhr.setRequestHeader("Authorization", "Bearer " + state.token);
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.timeout = 4 * TIMEOUT;
      xhr.onload = function () {
        var json = null;
        try { json = JSON.parse(xhr.responseText); } catch (e) { json = null; }
        resolve(answer(xhr.status, json, path));
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve(answer(0, null, path)); };
      xhr.send(data);
    });
  }

  function photoBlob(url) {
    return fetch(url, {headers: {Authorization: "Bearer " + state.token}})
      .then(function (r) { return r.ok ? r.blob() : null; })
      .then(function (blob) { return blob ? URL.createObjectURL(blob) : null; }, function () { return null; });
  }

  // Fields the phone does not offer: choosing departments or people is the center's work
  // at its desk (the admin), not a thumb's.
  var DESK_ONLY = {department: true, departments: true, user: true, "case": true, category: true};

  // One action's form, drawn from what the API says of its fields. A key of its own is
  // kept while the answer may have been lost (a retry does it once); after a refusal the
  // next try is a new request with a new key.
  function actionForm(c, action, panel, box) {
    panel.textContent = "";
    box.textContent = "";
    var names = action.required.concat(action.optional);
    if (names.some(function (n) { return DESK_ONLY[(action.fields[n] || {}).kind]; })) {
      add(panel, h("p", {"class": "note", text: "“" + action.label + "”请在电脑上的后台办理。"}));
      return;
    }
    var key = newKey();
    var inputs = {};
    var form = h("form", {"class": "card action-form", "data-action": action.action});
    add(form, h("h3", {text: action.label}));
    action.required.concat(action.optional).forEach(function (name) {
      var field = action.fields[name] || {label: name, kind: "text"};
      var required = action.required.indexOf(name) >= 0;
      var label = field.label + (required ? "" : "（可不填）");
      var id = "f-" + name;
      if (field.kind === "choice") {
        var set = h("fieldset", {"class": "choices", id: id}, h("legend", {text: label}));
        (action.choices[name] || []).forEach(function (choice) {
          add(set, h("label", {"class": "choice"}, h("input", {type: "radio", name: name, value: choice.value}), h("span", {text: choice.label})));
        });
        inputs[name] = function () { var on = set.querySelector("input:checked"); return on ? on.value : null; };
        add(form, set);
      } else if (field.kind === "boolean") {
        var box2 = h("input", {type: "checkbox", id: id, name: name});
        inputs[name] = function () { return box2.checked; };
        add(form, h("label", {"class": "choice", "for": id}, box2, h("span", {text: field.label + (name === "parties_consent" ? "（矛盾纠纷延期须经双方当事人同意）" : "")})));
      } else if (field.kind === "terms") {
        // Each term of the dispute's agreement, kept or not (回访 checks them one by one).
        var checks = h("fieldset", {"class": "choices", id: id, hidden: true}, h("legend", {text: "调解协议各条款履行情况"}));
        var termIds = [];
        get("/cases/" + encodeURIComponent(c.code) + "/documents").then(function (a) {
          if (a.status !== 200) { return; }
          a.json.items.filter(function (d) { return d.kind === "agreement"; }).forEach(function (d) {
            d.terms.forEach(function (t) {
              termIds.push(String(t.id));
              add(checks, h("p", {"class": "term", text: t.position + ". " + t.text}),
                h("label", {"class": "choice"}, h("input", {type: "radio", name: "term-" + t.id, value: "yes"}), h("span", {text: "已履行"})),
                h("label", {"class": "choice"}, h("input", {type: "radio", name: "term-" + t.id, value: "no"}), h("span", {text: "未履行"})));
            });
          });
          checks.hidden = !termIds.length;
        });
        inputs[name] = function () {
          var given = {};
          termIds.forEach(function (t) { var on = checks.querySelector("input[name='term-" + t + "']:checked"); if (on) { given[t] = on.value === "yes"; } });
          return Object.keys(given).length ? given : null;
        };
        add(form, checks);
      } else if (field.kind === "datetime") {
        var moment = h("input", {type: "datetime-local", id: id, name: name});
        // The phone's clock is the town's (Asia/Shanghai): the value gets its offset.
        inputs[name] = function () { return moment.value ? moment.value.slice(0, 16) + ":00+08:00" : null; };
        add(form, h("label", {"for": id, text: label}), moment);
      } else {
        var area = h("textarea", {id: id, name: name, rows: 3, maxlength: 2000});
        inputs[name] = function () { return area.value.trim() || null; };
        add(form, h("label", {"for": id, text: label}), area);
      }
    });
    var photoIds = [], uploading = 0;
    if (action.action === "resolve" || action.action === "record_visit" || action.action === "feedback") {
      var note = h("span", {"class": "meta"});
      var picker = h("input", {type: "file", accept: "image/*", multiple: true, id: "action-photos", "class": "file", onchange: function () {
        var files = Array.prototype.slice.call(picker.files);
        var chain = Promise.resolve();
        uploading += 1;
        files.forEach(function (f, i) {
          chain = chain.then(function () { return window.shrinkPhoto(f); }).then(function (blob) {
            return upload(blob, function (p) { note.textContent = "正在上传第 " + (i + 1) + " 张：" + p + "%"; });
          }).then(function (a) {
            if (a.status === 201) { photoIds.push(a.json.id); note.textContent = "已上传 " + photoIds.length + " 张照片"; } else { add(box, error(a.message)); }
          });
        });
        chain.then(function () { uploading -= 1; }, function () { uploading -= 1; });
        picker.value = "";
      }});
      add(form, h("label", {"class": "button secondary photo-pick", "for": "action-photos", text: "添加照片"}), picker, note);
    }
    var send = h("button", {type: "submit", text: "确认" + action.label});
    add(form, send, h("button", {type: "button", "class": "secondary", text: "取消", onclick: function () { panel.textContent = ""; }}));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      box.textContent = "";
      var body = {action: action.action, version: c.version};
      var missing = [];
      Object.keys(inputs).forEach(function (name) {
        var v = inputs[name]();
        if (v !== null && v !== "") { body[name] = v; }  // a box left unticked says no
        if (action.required.indexOf(name) >= 0 && (v === null || v === "")) { missing.push((action.fields[name] || {}).label || name); }
      });
      if (missing.length) { add(box, error("请填写：" + missing.join("、") + "。")); box.scrollIntoView(); return; }
      if (uploading) { add(box, error("照片还在上传，请稍候再确认。")); return; }
      if (photoIds.length) { body.photos = photoIds; }
      busy(send, "正在提交…");
      request("POST", "/cases/" + encodeURIComponent(c.code) + "/actions", body, key).then(function (a) {
        idle(send);
        if (a.status === 200) { drawCase(a.json); add(document.getElementById("case-messages"), h("p", {"class": "notice", text: "已" + action.label + "。"})); return; }
        if (a.status === 0 || a.status >= 500 || a.json.code === "request_in_flight") {
          add(box, error("网络不通或服务器忙，没有确认送达。内容还在，请稍后再点“确认”（不会重复办理）。"));
          return;
        }
        key = newKey();  // refused: what is sent next is another request
        if (a.status === 409) {  // someone else moved the case: show it as it is now
          caseScreen(c.code);
          setTimeout(function () { var m = document.getElementById("case-messages"); if (m) { add(m, error(a.message)); } }, 300);
          return;
        }
        add(box, error(a.message));
        box.scrollIntoView();
      });
    });
    add(panel, form);
    form.scrollIntoView();
  }

  // --- 消息 --------------------------------------------------------------------------------
  function inboxScreen() {
    get("/inbox").then(function (a) {
      if (a.status !== 200) { show(error(a.message)); return; }
      var items = a.json.items;
      var read = h("button", {type: "button", "class": "secondary", text: "全部标为已读", hidden: !a.json.unread, onclick: function () {
        request("POST", "/inbox/read", {}).then(function () { inboxScreen(); });
      }});
      show(h("h1", {text: "消息"}), read, items.length ? h("ul", {"class": "messages"}, items.map(function (m) {
        return h("li", {"class": m.read ? "read" : "unread"}, h("span", {"class": "meta", text: when(m.created_at)}), h("b", {text: m.title}),
          h("span", {"class": "note-text", text: m.body}), m.case_code ? h("a", {href: "#/case/" + m.case_code, "class": "code", text: m.case_display_code}) : null);
      })) : h("p", {"class": "note", text: "没有消息。"}));
      badge(a.json.unread);
    });
  }
  function badge(n) { var b = document.getElementById("unread"); b.hidden = !n; b.textContent = n ? String(n) : ""; }

  function meScreen() {
    show(h("h1", {text: "我的账号"}), h("p", {text: state.user.display_name + "（" + state.user.role_label + "）"}),
      state.user.department ? h("p", {text: state.user.department.name}) : null,
      h("p", {"class": "note", text: "退出后，本账号在所有手机上都需要重新登录。"}),
      h("button", {type: "button", "class": "secondary", text: "退出登录", onclick: function () {
        var waiting = Outbox.pending().length;
        if (waiting && !window.confirm("还有 " + waiting + " 份上报没有送达，退出后要等您再次登录才会发送。确定退出吗？")) { return; }
        request("POST", "/auth/logout").then(function () { signedOut("已退出登录。", true); });
      }}));
  }

  // --- the router ---------------------------------------------------------------------------
  // A token lives a day: renewed while the phone is in use, when under half is left.
  var HALF_DAY = 12 * 3600 * 1000;
  function renew() {
    var expires = Date.parse(localStorage.getItem("wb.expires") || "");
    if (!state.token || !(expires - Date.now() < HALF_DAY)) { return; }
    var tried = parseInt(sessionStorage.getItem("wb.renewed") || "0", 10);
    if (Date.now() - tried < 10 * 60 * 1000) { return; }  // at most every ten minutes
    sessionStorage.setItem("wb.renewed", String(Date.now()));
    request("POST", "/auth/refresh").then(function (a) { if (a.status === 200) { signedIn(a.json); } });
  }

  function route() {
    renew();
    var hash = location.hash || "#/";
    if (!state.token) { if (hash !== "#/login") { location.hash = "#/login"; return; } loginScreen(); return; }
    tabs.hidden = false;
    tabs.querySelectorAll("[data-role]").forEach(function (a) { a.hidden = a.dataset.role !== state.user.role; });
    tabs.querySelector("[data-tab=report]").hidden = state.user.role !== "grid_worker";
    var path = hash.slice(1).split("?")[0];
    var current = {"/": "home", "/report": "report", "/sent": "report", "/screening": "screening", "/cases": "cases", "/inbox": "inbox"}[path]
      || (path.indexOf("/case/") === 0 ? "cases" : "");
    tabs.querySelectorAll("a").forEach(function (a) { a.classList.toggle("current", a.dataset.tab === current); });
    if (path === "/" || path === "/login") { home(); } else if (path === "/report") { reportScreen(); } else if (path === "/sent") { sentScreen(); }
    else if (path === "/screening") { screeningScreen(); } else if (path === "/cases") { casesScreen(); }
    else if (path.indexOf("/case/") === 0) { caseScreen(decodeURIComponent(path.slice(6))); }
    else if (path === "/inbox") { inboxScreen(); } else if (path === "/me") { meScreen(); } else { home(); }
  }
  function online() { document.getElementById("net").hidden = navigator.onLine; }
  window.addEventListener("online", online);
  window.addEventListener("offline", online);
  window.addEventListener("hashchange", route);
  online();
  webCallback().then(route);
}());

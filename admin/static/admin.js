// The admin's small helpers; every page works without them.
(function () {
  "use strict";
  // A new urgent report is impossible to miss: ask every half minute, show a banner.
  var alertBox = document.getElementById("urgent-alert");
  if (alertBox) {
    var since = alertBox.dataset.since;
    var poll = function () {
      fetch(alertBox.dataset.url + "?since=" + encodeURIComponent(since),
            {credentials: "same-origin", headers: {"X-Background-Poll": "1"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.cases.length) { return; }
          alertBox.hidden = false;
          alertBox.textContent = "有 " + data.cases.length + " 件新的紧急报告：" +
            data.cases.map(function (c) { return c.village + " " + c.category + "（" + c.code + "）"; }).join("；") +
            "。请刷新页面处理。";
          document.title = "【紧急】" + document.title.replace(/^【紧急】/, "");
        })
        .catch(function () {});
    };
    setInterval(poll, 30000);
  }
  // A ledger being made: ask for its progress every second, then offer the file.
  var exportBox = document.getElementById("export");
  if (exportBox && exportBox.dataset.state === "running") {
    var bar = document.getElementById("export-progress");
    var said = document.getElementById("export-said");
    var file = document.getElementById("export-file");
    var ask = function () {
      fetch(exportBox.dataset.statusUrl, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {state: "failed"}; })
        .then(function (s) {
          if (s.state === "running") {
            bar.value = s.percent;
            said.textContent = "正在生成：已写 " + s.done + " / " + s.total + " 行……";
            setTimeout(ask, 1000);
          } else if (s.state === "done") {
            bar.value = 100;
            said.textContent = "已生成，共 " + s.done + " 行。";
            file.hidden = false;
          } else {
            said.textContent = "生成失败，请返回重试。";
          }
        })
        .catch(function () { setTimeout(ask, 3000); });
    };
    setTimeout(ask, 500);
  }
  // A form that must go once (an import hands out one-time passwords on its answer
  // only): its button stays pressed after the first click.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) {
          b.disabled = true;
          b.textContent = "正在处理，请稍候……";
        });
      }, 0);
    });
  });
  // A print button (a receipt, a list of one-time passwords): inline handlers are not
  // allowed by the pages' content security policy.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  // On a phone a table of cases is a list of cards, each value under its column's name:
  // a cell the template gave no name takes its column's header.
  document.querySelectorAll("table.stack, table.queue").forEach(function (table) {
    var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody > tr").forEach(function (row) {
      Array.prototype.forEach.call(row.cells, function (cell, index) {
        if (!cell.hasAttribute("data-label") && names[index] && cell.colSpan === 1) {
          cell.setAttribute("data-label", names[index]);
        }
      });
    });
  });
  // Ask before actions that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
}());

// Small comforts on the villagers' pages; every form works without this file.
(function () {
  "use strict";
  // A double tap sends the form once (the server also makes a resend harmless).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { setTimeout(function () { button.disabled = true; button.textContent = "正在提交…"; }, 0); }
    });
  });
  // Name and phone only when the villager chooses to leave them.
  var identity = document.querySelector(".identity");
  if (identity) {
    var sync = function () {
      var named = document.querySelector("input[name=anonymous][value=no]");
      identity.hidden = !(named && named.checked);
    };
    document.querySelectorAll("input[name=anonymous]").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }
  // At most a few photos.
  var photos = document.getElementById("photos");
  if (photos) {
    photos.addEventListener("change", function () {
      var max = parseInt(photos.dataset.max || "3", 10);
      if (photos.files.length > max) { alert("最多上传 " + max + " 张照片"); photos.value = ""; }
    });
  }
}());

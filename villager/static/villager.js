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
  // At most a few photos; the picker says in Chinese how many are chosen.
  document.documentElement.className += " js";
  var photos = document.getElementById("photos");
  var pick = document.getElementById("photo-pick");
  if (photos) {
    photos.addEventListener("change", function () {
      var max = parseInt(photos.dataset.max || "3", 10);
      if (photos.files.length > max) { alert("最多上传 " + max + " 张照片"); photos.value = ""; }
      if (pick) {
        pick.textContent = photos.files.length ? "已选择 " + photos.files.length + " 张照片（点此重新选择）"
          : "📷 拍照或选择照片";
      }
    });
  }
}());

// Photos are made small on the phone before they are sent (longest side 1920 px, JPEG,
// as the server keeps them anyway), the upload shows its progress, and a refusal is
// shown above the form with everything typed and chosen still in it. Without this (an
// old browser, no JavaScript) the form posts as it is and the server does the same work.
(function () {
  "use strict";
  var form = document.querySelector("form.report");
  var canvas = document.createElement("canvas");
  if (!form || !window.FormData || !window.XMLHttpRequest || !canvas.toBlob || !window.Promise
      || !window.shrinkPhoto) {
    return;
  }
  function say(message) {
    var box = form.parentNode.querySelector("p.error");
    if (!box) {
      box = document.createElement("p");
      box.className = "error";
      box.setAttribute("role", "alert");
      form.parentNode.insertBefore(box, form);
    }
    box.textContent = message;
    box.scrollIntoView({block: "center"});
  }

  var sending = false;  // a double tap sends the form once
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) { return; }
    sending = true;
    var button = form.querySelector("button[type=submit]");
    var input = form.querySelector("input[type=file][name=photos]");
    var files = input ? Array.prototype.slice.call(input.files) : [];
    var bar = form.querySelector("progress.upload");
    if (!bar) {
      bar = document.createElement("progress");
      bar.className = "upload"; bar.max = 100; bar.value = 0;
      button.parentNode.insertBefore(bar, button);
    }
    var label = form.querySelector(".upload-label") || document.createElement("p");
    label.className = "upload-label";
    bar.parentNode.insertBefore(label, bar);
    label.textContent = files.length ? "正在压缩照片…" : "正在提交…";
    Promise.all(files.map(function (f) { return window.shrinkPhoto(f); })).then(function (shrunk) {
      var data = new FormData(form);
      data.delete("photos");
      shrunk.forEach(function (blob, i) {
        data.append("photos", blob, (files[i].name || "photo").replace(/\.\w+$/, "") + ".jpg");
      });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(100 * e.loaded / e.total);
          label.textContent = "正在上传 " + bar.value + "%";
        }
      };
      xhr.onload = function () {
        if (xhr.status < 400) {  // the confirmation: shown as the page it is
          document.open(); document.write(xhr.responseText); document.close();
          return;
        }
        // Refused: the server's reason, and the form as the villager left it.
        var reason = (new DOMParser()).parseFromString(xhr.responseText, "text/html")
          .querySelector(".error, .lead");
        say(reason ? reason.textContent : "提交没有成功，请稍后再试。");
        label.textContent = ""; bar.value = 0; sending = false;
        button.disabled = false; button.textContent = "提交";
      };
      xhr.onerror = function () {
        say("网络不好，没有提交成功。您填写的内容还在，请稍后再点“提交”。");
        label.textContent = ""; bar.value = 0; sending = false;
        button.disabled = false; button.textContent = "提交";
      };
      xhr.send(data);
    });
  });
}());

// One way to make a phone photo small before it is sent, for every page that sends one
// (the villagers' form, the field workbench): longest side 1920 px, JPEG, as the server
// keeps them anyway. A photo already small, or one the browser cannot read, goes as it is.
(function () {
  "use strict";
  window.shrinkPhoto = function (file, maxSide) {
    maxSide = maxSide || 1920;
    return new Promise(function (resolve) {
      if (!/^image\//.test(file.type) || !document.createElement("canvas").toBlob) {
        resolve(file); return;
      }
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        var scale = Math.min(1, maxSide / Math.max(image.naturalWidth, image.naturalHeight));
        var c = document.createElement("canvas");
        c.width = Math.round(image.naturalWidth * scale);
        c.height = Math.round(image.naturalHeight * scale);
        c.getContext("2d").drawImage(image, 0, 0, c.width, c.height);
        URL.revokeObjectURL(url);
        c.toBlob(function (blob) { resolve(blob && blob.size < file.size ? blob : file); },
          "image/jpeg", 0.85);
      };
      image.onerror = function () { URL.revokeObjectURL(url); resolve(file); };
      image.src = url;
    });
  };
}());

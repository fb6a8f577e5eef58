// Progressive enhancement: a "Copy link" button beside read-only fields marked
// data-copyable. Without JavaScript the field stays selectable, which is enough.
"use strict";
// Says the page's scripts ran (`html[data-scripts=on]`), for styles that need them.
document.documentElement.dataset.scripts = "on";
document.querySelectorAll("input[data-copyable]").forEach(function (field) {
  if (!navigator.clipboard) {
    return;
  }
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Copy link";
  var status = document.createElement("span");
  status.setAttribute("role", "status");
  status.className = "copy-status";
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(
      function () { status.textContent = "Copied."; },
      function () { field.select(); status.textContent = "Press Ctrl+C to copy."; }
    );
  });
  field.insertAdjacentElement("afterend", status);
  field.insertAdjacentElement("afterend", button);
});

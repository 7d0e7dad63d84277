// The template editor's live preview: as staff type, the form is posted (with its CSRF
// token) to /templates/<name>/preview, ~300 ms after the last key, and the fragment that
// comes back replaces the preview panel. No library; without this script the "Preview"
// button does the same with a whole page.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  var panel = document.getElementById("preview");
  if (!form || !panel || !window.fetch) { return; }
  var url = form.getAttribute("data-preview");
  var timer = null;
  var sent = 0;

  function refresh() {
    var ticket = ++sent;
    var body = new URLSearchParams(new FormData(form));
    body.delete("action");
    panel.setAttribute("aria-busy", "true");
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) { return response.text(); }
        // the server's one line (a form too long, a session ended), else the status
        return response.text().then(function (said) {
          throw new Error(said.trim().slice(0, 200) || "refused: " + response.status);
        });
      })
      .then(function (html) {
        if (ticket !== sent) { return; } // a later keystroke's answer is on its way
        panel.innerHTML = html; // the server's fragment: every value in it escaped by Jinja
        panel.removeAttribute("aria-busy");
        var refused = document.getElementById("save-problem");
        var body = document.getElementById("preview-body");
        if (refused && body && body.getAttribute("data-problems") === "0") {
          refused.remove(); // the refused save's reason is fixed now
        }
      })
      .catch(function (error) {
        if (ticket !== sent) { return; }
        panel.removeAttribute("aria-busy");
        var note = document.getElementById("preview-error");
        if (!note) {
          note = document.createElement("p");
          note.id = "preview-error";
          note.className = "problem";
          note.setAttribute("role", "alert");
          panel.insertBefore(note, panel.firstChild);
        }
        // textContent, never HTML: the message is shown as it is. A fetch that fails
        // outright (TypeError) never reached the agent: stopped, or the network is down.
        var why = error instanceof TypeError
          ? "the agent could not be reached; is it running?"
          : error.message;
        note.textContent = "The preview was not updated (" + why +
          "); your text is kept here. Use the Preview button, or reload the page if you " +
          "were logged out.";
      });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 300);
  }

  form.elements.namedItem("text").addEventListener("input", later);
  form.elements.namedItem("conversation").addEventListener("change", refresh);
})();

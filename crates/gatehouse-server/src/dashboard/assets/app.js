// Gatehouse dashboard: progressive enhancement only. Everything works without this file.
'use strict';
(function () {
  var status = document.createElement('div');
  status.className = 'visually-hidden';
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  document.body.appendChild(status);

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.appendChild(area);
      area.select();
      try {
        if (document.execCommand('copy')) { resolve(); } else { reject(new Error('copy refused')); }
      } catch (e) {
        reject(e);
      } finally {
        area.remove();
      }
    });
  }

  function selectContents(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // Copy buttons: <button class="copy" data-copy="ID" hidden> next to <pre id="ID">.
  document.querySelectorAll('button.copy[data-copy]').forEach(function (button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target) { return; }
    var label = button.firstChild;
    button.hidden = false;
    button.addEventListener('click', function () {
      copyText(target.textContent).then(function () {
        label.nodeValue = 'Copied';
        status.textContent = 'Copied to the clipboard';
        button.setAttribute('data-copied', 'true');
        window.setTimeout(function () { label.nodeValue = 'Copy'; }, 2000);
      }, function () {
        selectContents(target);
        status.textContent = 'Copying is not allowed here: the text is selected, press Ctrl+C or Cmd+C';
      });
    });
  });

  // Destructive actions ask first.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { event.preventDefault(); }
    });
  });
})();

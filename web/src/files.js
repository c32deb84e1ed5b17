// Files in and out of the session: a file dropped on the terminal, pasted, or picked with the
// Upload button goes into the shell's current directory (POST .../files, with a progress bar
// and Cancel, and a confirm before replacing a file of that name); "Download a file…" and the
// links `lanterm get FILE` prints come back through this logged-in page. None of it in
// read-only mode.

import { sessionPath } from './api.js';
import { $ } from './dom.js';
import { fmtBytes, toast } from './format.js';

let current = null; // the upload under way: its XMLHttpRequest

// Uploads `files` one after the other into session `id`.
export async function uploadFiles(id, files) {
  for (const file of files) {
    if (current) return toast('an upload is already under way', 3000);
    let answer = await send(id, file, false);
    if (answer.status === 409 && /exists/.test(answer.message)) {
      if (!window.confirm(`${file.name} exists in the shell's directory. Replace it?`)) continue;
      answer = await send(id, file, true);
    }
    if (answer.status === 201) toast(`uploaded ${answer.path}`, 3000);
    else if (answer.status !== 0) toast(`${file.name}: ${answer.message}`, 5000);
  }
}

// One upload with its progress bar; resolves with {status, message, path} (status 0: cancelled).
function send(id, file, overwrite) {
  return new Promise((resolve) => {
    const q = new URLSearchParams({ name: file.name });
    if (overwrite) q.set('overwrite', '1');
    const xhr = new XMLHttpRequest();
    current = xhr;
    const bar = $('#transfer');
    const progress = $('#transfer-progress');
    $('#transfer-name').textContent = `${file.name} (${fmtBytes(file.size)})`;
    progress.value = 0;
    bar.hidden = false;
    const done = (status, message = '', path = '') => {
      current = null;
      bar.hidden = true;
      resolve({ status, message, path });
    };
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total) progress.value = e.loaded / e.total;
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      const err = body && body.error;
      done(xhr.status, err ? err.message : `${xhr.status}`, body && body.path);
    };
    xhr.onerror = () => done(-1, 'the upload failed');
    xhr.onabort = () => done(0);
    xhr.open('POST', `${sessionPath(id)}/files?${q}`);
    xhr.send(file);
  });
}

// Downloads PATH (relative to the shell's directory, or absolute) through this page's login.
export function downloadFile(id, path) {
  const a = document.createElement('a');
  a.href = `${sessionPath(id)}/files?${new URLSearchParams({ path })}`;
  a.download = path.split('/').pop() || 'download';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// The OSC 8 link handler: a `lanterm get` link downloads (resolved against this page, so it
// works under a proxy's sub-path); any other link opens in a new tab after a confirm.
export function linkHandler(view) {
  return {
    // `lanterm get` links are relative ("/api/..."): xterm.js would drop them otherwise.
    // Only those and http(s) links do anything below.
    allowNonHttpProtocols: true,
    activate(_event, uri) {
      const m = /^\/api\/sessions\/([A-Za-z0-9_-]+)\/files\?(.*)$/.exec(uri);
      if (m) {
        if (view.ro) return;
        const path = new URLSearchParams(m[2]).get('path');
        if (path) downloadFile(m[1], path);
        return;
      }
      if (/^https?:\/\//i.test(uri) && window.confirm(`Open ${uri}?`)) {
        window.open(uri, '_blank', 'noopener');
      }
    },
  };
}

// The terminal view's file controls; returns what undoes them.
export function setupFiles(view) {
  const el = view.el;
  const canTransfer = () => !view.ro && !view.ended;
  const onDragOver = (e) => {
    if (!canTransfer() || !e.dataTransfer || !e.dataTransfer.types.includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  };
  const onDrop = (e) => {
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    e.stopPropagation();
    if (canTransfer()) uploadFiles(view.id, [...e.dataTransfer.files]);
  };
  const input = $('#upload-input');
  const onPick = () => {
    const files = [...input.files];
    input.value = '';
    if (canTransfer()) uploadFiles(view.id, files);
  };
  const onUpload = () => input.click();
  const onFetch = () => {
    $('#fetch-path').value = '';
    $('#fetch-dialog').hidden = false;
    $('#fetch-path').focus();
  };
  const onCancel = () => current && current.abort();
  const listeners = [
    [el, 'dragover', onDragOver],
    [el, 'drop', onDrop],
    [input, 'change', onPick],
    [$('#upload-btn'), 'click', onUpload],
    [$('#fetch-btn'), 'click', onFetch],
    [$('#transfer-cancel'), 'click', onCancel],
  ];
  for (const [t, ev, fn] of listeners) t.addEventListener(ev, fn, true);
  view.term.options.linkHandler = linkHandler(view);
  return () => {
    for (const [t, ev, fn] of listeners) t.removeEventListener(ev, fn, true);
  };
}

// The "Download a file…" dialog, set up once; `currentView()` is the open terminal view.
export function setupFetchDialog(currentView) {
  const d = $('#fetch-dialog');
  const close = (go) => {
    const path = $('#fetch-path').value.trim();
    d.hidden = true;
    const view = currentView();
    if (go && path && view && !view.ro) downloadFile(view.id, path);
    if (view) view.term.focus();
  };
  $('#fetch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    close(true);
  });
  $('#fetch-cancel').addEventListener('click', () => close(false));
  d.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close(false);
  });
}

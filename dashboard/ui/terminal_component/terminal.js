// The dashboard's terminal: xterm.js in a Streamlit component (protocol v1: componentReady,
// render, setFrameHeight), attached to the dashboard's terminal WebSocket (work/terminals.py).
// Args: token (one-time), port, height (px), title. Opened outside Streamlit (the benchmark's
// floor), the same args come as JSON in the URL's #fragment.
import { Terminal } from "./vendor/xterm.mjs";
import { FitAddon } from "./vendor/addon-fit.mjs";

const SUBPROTOCOL = "dashboard-terminal";
const bar = document.getElementById("bar");
const box = document.getElementById("term");
const encoder = new TextEncoder();
let started = null;

function toStreamlit(type, data) {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

function status(text, ended = false) {
  bar.textContent = text;
  bar.classList.toggle("ended", ended);
}

function xsrfCookie() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("_streamlit_xsrf="));
  return found ? decodeURIComponent(found.slice("_streamlit_xsrf=".length)) : null;
}

// Echo latency probe (bench/terminal.py): key down -> the echo parsed into the buffer
// (`parsed`), and -> the next animation frame after that, when it is on screen (`echoes`).
const probe = { keyAt: null, echoes: [], parsed: [] };

function start(args) {
  started = args.token;
  const height = args.height || 360;
  box.style.height = `${height}px`;
  toStreamlit("streamlit:setFrameHeight", { height: height + 30 });
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace",
    fontSize: 14,
    scrollback: 5000,
    theme: { background: "#1e1e1e" },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  window.__terminal = { term, probe, text: () => screenText(term) };

  const url = new URL(window.location.href);
  const scheme = url.protocol === "https:" ? "wss" : "ws";
  const xsrf = xsrfCookie();
  const ws = new WebSocket(
    `${scheme}://${url.hostname}:${args.port}/?token=${encodeURIComponent(args.token)}`,
    xsrf ? [SUBPROTOCOL, xsrf] : [SUBPROTOCOL],
  );
  ws.binaryType = "arraybuffer";
  let opened = false;
  let ended = false;
  const title = args.title || "terminal";
  status(`Connecting: ${title}`);

  ws.onopen = () => {
    opened = true;
    ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
    status(`Connected: ${title}`);
    term.focus();
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      const text = msg.error || msg.ended;
      if (text) {
        ended = true;
        status(text, true);
        term.write(`\r\n\x1b[33m[${text}]\x1b[0m\r\n`);
      }
      return;
    }
    term.write(new Uint8Array(event.data), () => {
      if (probe.keyAt !== null) {
        const keyAt = probe.keyAt;
        probe.keyAt = null;
        probe.parsed.push(performance.now() - keyAt);
        requestAnimationFrame(() => probe.echoes.push(performance.now() - keyAt));
      }
    });
  };
  ws.onclose = () => {
    if (!opened) {
      status(
        "The terminal server refused the connection (its one-time token was already used, " +
          "expired or unknown, or the page is not the dashboard's). Open a new terminal.",
        true,
      );
    } else if (!ended) {
      status("The connection closed.", true);
    }
    term.options.disableStdin = true;
  };

  const sendBytes = (bytes) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
  };
  term.onData((data) => sendBytes(encoder.encode(data)));
  term.onBinary((data) => sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  term.onResize(({ cols, rows }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: [cols, rows] }));
  });
  term.textarea.addEventListener("keydown", () => (probe.keyAt = performance.now()), true);

  // Copy: Ctrl+Shift+C, or Ctrl+C while text is selected (without a selection Ctrl+C is the
  // interrupt, 0x03). Paste: Ctrl+Shift+V or Ctrl+V, the browser's own paste into xterm.js.
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== "keydown" || !e.ctrlKey) return true;
    if (e.code === "KeyC" && (e.shiftKey || term.hasSelection())) {
      if (term.hasSelection()) copy(term.getSelection());
      term.clearSelection();
      return false;
    }
    if (e.code === "KeyV") return false; // the paste event delivers the text
    return true;
  });

  new ResizeObserver(() => {
    try {
      fit.fit();
    } catch (_) {
      /* not laid out yet */
    }
  }).observe(box);
}

function copy(text) {
  if (!document.execCommand("copy") && navigator.clipboard) {
    navigator.clipboard.writeText(text).catch(() => {});
  }
}

function screenText(term) {
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines.join("\n");
}

window.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "streamlit:render") return;
  const args = data.args || {};
  // Reruns send the same args again: only a new token is a new terminal.
  if (args.token && args.token !== started && started === null) start(args);
});

if (window.parent === window && window.location.hash.length > 1) {
  start(JSON.parse(decodeURIComponent(window.location.hash.slice(1))));
} else {
  toStreamlit("streamlit:componentReady", { apiVersion: 1 });
}

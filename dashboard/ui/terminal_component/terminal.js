// The dashboard's terminal: xterm.js in a Streamlit component (protocol v1: componentReady,
// render, setFrameHeight), attached to the dashboard's terminal WebSocket (work/terminals.py), a
// route of the dashboard's own server. Args: token (one-time), path (the channel's path relative
// to the dashboard's root), height (px), title. The component is served at
// ROOT/component/NAME/index.html, so the channel is ../../PATH from here: the same host, port
// and path prefix as the page, whatever proxy is in front, and wss:// under https://. Opened
// outside Streamlit (the benchmark's floor, the tests), the args come as JSON in the URL's
// #fragment, with `url` (the WebSocket's address) instead of `path`.
import { Terminal } from "./vendor/xterm.mjs";
import { FitAddon } from "./vendor/addon-fit.mjs";

const SUBPROTOCOL = "dashboard-terminal";
const REFUSED = 4403; // close code of a refused token (work/terminals.py)
const bar = document.getElementById("bar");
const box = document.getElementById("term");
const encoder = new TextEncoder();
let started = null;

function toStreamlit(type, data) {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

// kind: connecting, connected, ended (the shell or the container ended, or idle), error (the
// exec could not start), refused (the token), unreachable (no connection), broken (lost).
function status(text, kind) {
  bar.textContent = text;
  bar.dataset.kind = kind;
  bar.classList.toggle("ended", !["connecting", "connected"].includes(kind));
}

function channelUrl(args) {
  if (args.url) return new URL(args.url);
  const url = new URL(`../../${args.path}`, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  return url;
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

  const url = channelUrl(args);
  const where = url.href;
  url.searchParams.set("token", args.token);
  const xsrf = xsrfCookie();
  const ws = new WebSocket(url.href, xsrf ? [SUBPROTOCOL, xsrf] : [SUBPROTOCOL]);
  window.__terminal.url = where;
  ws.binaryType = "arraybuffer";
  let opened = false;
  let ended = false;
  const title = args.title || "terminal";
  status(`Connecting: ${title}`, "connecting");

  ws.onopen = () => {
    opened = true;
    ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
    status(`Connected: ${title}`, "connected");
    term.focus();
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      const text = msg.error || msg.ended;
      if (text) {
        ended = true;
        status(text, msg.error ? "error" : "ended");
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
  ws.onclose = (event) => {
    if (event.code === REFUSED) {
      const why = event.reason.replace(/^Terminal refused: /, "").replace(/\.$/, "");
      status(`The dashboard refused this terminal (${why}). Open a new terminal.`, "refused");
    } else if (!opened) {
      status(
        `Could not connect to the dashboard's terminal channel (${where}): the dashboard is ` +
          "not running, or a proxy in front of it does not pass WebSocket connections. " +
          "Open a new terminal once the page works again.",
        "unreachable",
      );
    } else if (!ended) {
      status(
        `The connection to the dashboard broke (WebSocket closed, code ${event.code}). ` +
          "Open a new terminal.",
        "broken",
      );
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

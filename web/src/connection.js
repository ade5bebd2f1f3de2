// The /ws socket: connect, hand every message to the page, reconnect with a
// capped, jittered exponential backoff when it closes (gateway restarts,
// Wi-Fi hiccups). The page never has to reload.

/** Delay before reconnect attempt `attempt` (0-based): 0.5 s doubling, capped, +-20 % jitter. */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 8000, random = Math.random } = {}) {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(d * (0.8 + 0.4 * random()));
}

/**
 * Build the socket URL from the page's location: same host, ws/wss after
 * http/https, `wsPath` resolved against the page (so a page served under a
 * prefix with wsPath "ws" stays under it), stream/token passed through, and
 * the subscription: the motion (mirrored unless `mirror` is false) and, with
 * `landmarks`, the raw landmarks too (docs/protocol.md).
 */
export function socketUrl(
  pageHref,
  wsPath = "/ws",
  { stream = "", token = "", mirror = true, landmarks = false } = {},
) {
  const url = new URL(wsPath || "/ws", pageHref);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  if (stream) url.searchParams.set("stream", stream);
  if (token) url.searchParams.set("token", token);
  if (!mirror) url.searchParams.set("mirror", "0");
  if (landmarks) url.searchParams.set("landmarks", "1");
  return url.toString();
}

export class Connection {
  /**
   * @param {string} url ws:// or wss:// URL
   * @param {object} handlers onState(state, detail), onMessage(data)
   */
  constructor(url, { onState = () => {}, onMessage = () => {}, WebSocketImpl = globalThis.WebSocket } = {}) {
    this.url = url;
    this.onState = onState;
    this.onMessage = onMessage;
    this.WebSocketImpl = WebSocketImpl;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
    this.state = "idle";
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Subscribe anew (another URL): the socket closes and opens again at once. */
  setUrl(url) {
    if (url === this.url) return;
    this.url = url;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "new subscription");
    if (!this.stopped) this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "page closed");
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
  }

  open() {
    this.setState("connecting");
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch (err) {
      this.retry(`cannot open socket: ${err.message}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0; // a socket that opened resets the backoff
      this.setState("connected");
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 1008 = policy (bad token): retrying fast would only hammer the gateway.
      const why =
        ev.code === 1008
          ? `refused: ${ev.reason || "policy"}`
          : `closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`;
      this.retry(why, ev.code === 1008 ? 4 : 0);
    };
    ws.onerror = () => {}; // onclose follows and carries the code
  }

  retry(why, extraAttempts = 0) {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt + extraAttempts);
    this.attempt += 1;
    this.setState("reconnecting", `${why}; retry in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => this.open(), delay);
  }
}

// Record / stop: the gateway records a take of the stream this page shows and
// hands the files back (docs/recording.md; POST record, POST record/stop,
// GET takes/ID/NAME: docs/protocol.md "Takes"). The page writes no motion
// file itself: the writers live in the gateway's Python, in one place.
// The key "r" or the button starts and stops; the .vrma downloads when the
// take stops, and both files stay linked for a while. Never shown in OBS.

const LINKS_SHOWN_MS = 60000; // the links to a finished take's files stay this long

/** A gateway URL relative to the page (a page served under a prefix stays under it), with its query. */
export function takeUrl(pageHref, path, params = {}) {
  const url = new URL(path, pageHref);
  url.hash = "";
  url.search = "";
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  return url.toString();
}

/** "1:02" from milliseconds. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The take's state machine, without the DOM: idle -> recording -> saving -> idle.
 * `request(url)` is a POST returning {ok, status, json(), text()} (fetch's shape).
 */
export class TakeRecorder {
  constructor({ pageHref, token = "", stream = () => null, request, now = () => Date.now(), onChange = () => {} }) {
    Object.assign(this, { pageHref, token, stream, request, now, onChange });
    this.state = "idle";
    this.take = null; // {take, stream, startedAt}
    this.files = []; // the last finished take's: {name, url, bytes}
    this.error = "";
  }

  async toggle() {
    if (this.state === "idle") return this.start();
    if (this.state === "recording") return this.stop();
    return null; // saving: one thing at a time
  }

  async start() {
    const stream = this.stream();
    if (!stream) return this.fail("no stream to record yet");
    this.set("starting", "");
    const res = await this.post("record", { stream });
    if (!res) return null;
    this.take = { ...(await res.json()), startedAt: this.now() };
    this.set("recording");
    return this.take;
  }

  async stop() {
    this.set("saving");
    const res = await this.post("record/stop", { take: this.take.take });
    this.take = null;
    if (!res) return null;
    const done = await res.json();
    this.files = done.files.map((f) => ({ ...f, url: takeUrl(this.pageHref, f.url, { token: this.token }) }));
    this.set("idle", done.error ?? "");
    return done;
  }

  /** The gateway's answer, or null after saying what went wrong. */
  async post(path, params) {
    let res;
    try {
      res = await this.request(takeUrl(this.pageHref, path, { ...params, token: this.token }));
    } catch (err) {
      return this.fail(`the gateway is out of reach (${err.message})`);
    }
    if (res.ok) return res;
    return this.fail((await res.text()).trim() || `HTTP ${res.status}`);
  }

  fail(why) {
    this.take = null;
    this.set("idle", why);
    return null;
  }

  set(state, error = this.error) {
    this.state = state;
    this.error = error;
    this.onChange(this);
  }

  elapsed() {
    return this.take ? this.now() - this.take.startedAt : 0;
  }
}

const STYLE = `
#take { position: fixed; left: 12px; bottom: 12px; display: flex; flex-direction: column-reverse; gap: 0.4em;
  align-items: flex-start; font: 13px system-ui, sans-serif; color: #fff; z-index: 10; }
#take button { font: inherit; color: #fff; background: rgba(20, 24, 40, 0.7); border: 1px solid rgba(255,255,255,0.3);
  border-radius: 999px; padding: 0.35em 0.9em; cursor: pointer; }
#take button.recording { background: rgba(190, 30, 45, 0.85); }
#take .files, #take .why { background: rgba(20, 24, 40, 0.7); padding: 0.25em 0.7em; border-radius: 6px; }
#take .files a { color: #9cf; margin-right: 0.8em; }
`;

/** The button, the key "r" and the links; null in OBS (its browser source has window.obsstudio). */
export function installRecorder(opts, currentStream, { win = window, doc = document } = {}) {
  if (win.obsstudio) return null;
  const style = doc.createElement("style");
  style.textContent = STYLE;
  doc.head.append(style);
  const box = doc.createElement("div");
  box.id = "take";
  const button = doc.createElement("button");
  button.type = "button";
  button.title = "record a take of this stream (r)";
  const links = doc.createElement("div");
  links.className = "files";
  links.hidden = true;
  const why = doc.createElement("div");
  why.className = "why";
  box.append(button, links, why);
  doc.body.append(box);

  let hideLinks = null;
  const recorder = new TakeRecorder({
    pageHref: win.location.href,
    token: opts.token,
    stream: currentStream,
    request: (url) => win.fetch(url, { method: "POST", cache: "no-store" }),
    onChange: render,
  });

  function render(r) {
    button.className = r.state === "recording" ? "recording" : "";
    button.disabled = r.state === "starting" || r.state === "saving";
    button.textContent = { recording: `■ ${clock(r.elapsed())}`, saving: "saving…", starting: "…" }[r.state] ?? "● rec";
    why.textContent = r.error;
    why.hidden = !r.error;
  }

  function showFiles(files) {
    const link = (f) =>
      Object.assign(doc.createElement("a"), {
        href: f.url,
        download: f.name,
        title: f.name,
        textContent: `⤓ .${f.name.split(".").pop()}`,
      });
    links.replaceChildren(...files.map(link));
    links.hidden = !files.length;
    clearTimeout(hideLinks);
    hideLinks = setTimeout(() => {
      links.replaceChildren();
      links.hidden = true;
    }, LINKS_SHOWN_MS);
    const vrma = [...links.children].find((a) => a.download.endsWith(".vrma")) ?? links.firstChild;
    vrma?.click(); // the download starts; the links stay for the other file
  }

  async function toggle() {
    const done = await recorder.toggle();
    if (done?.files) showFiles(recorder.files);
  }

  button.addEventListener("click", toggle);
  button.addEventListener("pointerdown", (ev) => ev.stopPropagation()); // not a drag of the avatar
  win.addEventListener("keydown", (ev) => {
    if (ev.key !== "r" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (ev.target?.closest?.("input, textarea, select, [contenteditable]")) return; // typing somewhere
    toggle();
  });
  setInterval(() => recorder.state === "recording" && render(recorder), 500);
  render(recorder);
  return recorder;
}

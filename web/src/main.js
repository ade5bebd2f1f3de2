// Wiring: config + query (+ the panel's remembered choices) -> options; the
// avatar (stage.js, from the registry in avatars.js) + socket -> the gateway's
// motion messages, held by motion.js -> retarget in the avatar, drawn every
// animation frame. The gateway's rig solves and smooths (live2d_pose/rig/);
// the page only retargets and draws. Each piece lives in its own module; this
// file only connects them and keeps the page's state.
import { parseMessage, ProtocolError } from "./protocol.js";
import { MOTION_VERSION } from "./contract.js";
import { MotionHolder } from "./motion.js";
import { Connection, socketUrl } from "./connection.js";
import { Hud, LandmarkOverlay, TrackerRates } from "./hud.js";
import { option, pageQuery, queryWith, readOptions, recall, remember } from "./options.js";
import { avatarKinds } from "./avatars.js";
import { Stage } from "./stage.js";
import { Notes } from "./notes.js";
import { Panel } from "./panel.js";
import { installControls } from "./controls.js";
import { avatarFile } from "./model-file.js";
import { liveStreams, streamNote } from "./streams.js";
import { installRecorder } from "./record.js";

const WAITING_AFTER_MS = 3000; // no motion for this long: "waiting for a camera"
const LANDMARKS_STALE_MS = 500; // the overlay drops a tracker's points this much after its last result
const STREAM_CHECK_MS = 3000; // how often a stream asked for and not live is looked for again

const $ = (id) => document.getElementById(id);

const motion = new MotionHolder(); // the latest motion: what the avatar shows
const rates = new TrackerRates(); // each tracker's rate and latency, for the HUD

const state = {
  connectionState: "connecting",
  connectionDetail: "",
  connected: false,
  stream: null,
  imageSize: null,
  framesReceived: 0,
  latencyMs: null,
  pipelineMs: null,
  lastMotionAt: -Infinity,
  rig: { ...motion.live2d }, // the Live2D parameters of this frame
  overlayDirty: true,
  streamStatus: "", // the stream asked for is not live: what the note and the panel say
  dropped: null, // {url, name}: a .vrm dropped onto the page, shown instead of the model
  landmarks: {}, // tracker -> {items, at}: the newest raw results (?landmarks=1)
  protocolErrors: 0,
  lastError: null,
};

/** Frames per second: the fastest tracker's results per second. */
function fps(now = performance.now()) {
  return Math.max(0, ...Object.values(rates.stats(now)).map((t) => t.rate));
}

// Read-only view for tests and curious users (window.__live2dPose).
function exposeState() {
  const api = {};
  const fields = {
    connected: () => state.connected,
    connectionState: () => state.connectionState,
    stream: () => state.stream,
    framesReceived: () => state.framesReceived,
    fps: () => fps(),
    latencyMs: () => state.latencyMs,
    pipelineMs: () => state.pipelineMs,
    // who the motion says is seen
    faces: () => Number(motion.state.seen.face),
    poses: () => Number(motion.state.seen.pose),
    hands: () => Number(motion.state.seen.leftHand) + Number(motion.state.seen.rightHand),
    seq: () => motion.seq,
    rig: () => Object.freeze({ ...state.rig }),
    // which trackers feed the page, with their rates and latencies
    trackers: () => rates.stats(performance.now()),
    body: () => motion.state, // the motion's state (docs/protocol.md): bones, expressions, gaze, seen
    // what the avatar shows: bones and expressions read back from it (VRM)
    avatar: () => page.stage?.avatar.snapshot?.() ?? null,
    avatarKinds: () => avatarKinds(),
    renderer: () => page.stage?.kind ?? "builtin",
    note: () => page.notes?.text ?? "",
    streamStatus: () => state.streamStatus,
    options: () => (page.opts ? Object.freeze({ ...page.opts, warnings: undefined }) : null),
    panelOpen: () => Boolean(page.panel?.isOpen),
    protocolErrors: () => state.protocolErrors,
    lastError: () => state.lastError,
  };
  for (const [k, get] of Object.entries(fields)) Object.defineProperty(api, k, { get, enumerable: true });
  window.__live2dPose = Object.freeze(api);
}

async function fetchConfig() {
  try {
    const res = await fetch("config.json", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.json();
  } catch (err) {
    console.warn(`config.json unavailable (${err.message}); using defaults`);
    return {};
  }
}

// ------------------------------------------------------------------ socket

function onMessage(data, opts) {
  let msg;
  try {
    msg = parseMessage(data);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    state.protocolErrors += 1;
    state.lastError = err.message;
    console.warn("bad message from the gateway:", err.message);
    return;
  }
  switch (msg.type) {
    case "hello": {
      const mine = msg.streams.find((s) => !opts.stream || s.stream === opts.stream);
      if (mine) {
        state.stream = mine.stream;
        state.imageSize = mine.imageSize;
      }
      checkStream(msg.streams.map((s) => s.stream));
      break;
    }
    case "stream":
      state.stream = msg.stream;
      state.imageSize = msg.imageSize ?? state.imageSize;
      if (msg.stream === opts.stream) checkStream([msg.stream]);
      break;
    case "ended":
      // the motion keeps coming for a while: the gateway eases the avatar back to rest
      if (msg.stream === state.stream) state.stream = null;
      if (msg.stream === opts.stream) checkStream();
      break;
    case "error":
      state.lastError = `${msg.code}: ${msg.message}`;
      console.warn("gateway error:", state.lastError);
      break;
    case "motion":
      onMotion(msg);
      break;
    case "landmarks":
      onLandmarks(msg);
      break;
  }
}

function onMotion(msg) {
  if (msg.unsupported !== undefined) {
    page.notes.set(
      "motion",
      `The gateway sends motion version ${msg.unsupported}; this page knows version ${MOTION_VERSION}. Reload the page, or update it.`,
    );
    return;
  }
  if (!motion.apply(msg)) return; // a delta without its full message (another stream's)
  const now = performance.now();
  const wall = Date.now();
  state.framesReceived += 1;
  state.lastMotionAt = now;
  state.stream = msg.stream;
  // Exponential average: a readable number that still moves within a second.
  const ema = (prev, v) => (prev == null ? v : prev + 0.2 * (v - prev));
  const fresh = msg.times && Object.values(msg.times).some((t) => t !== null);
  if (fresh && Number.isFinite(msg.ts.ingest)) {
    state.latencyMs = ema(state.latencyMs, wall - msg.ts.ingest);
    if (Number.isFinite(msg.ts.gateway)) state.pipelineMs = ema(state.pipelineMs, msg.ts.gateway - msg.ts.ingest);
  }
  rates.offer(msg.times, now, wall);
}

/** Raw landmarks (?landmarks=1): the overlay's points, nothing else. */
function onLandmarks(msg) {
  const now = performance.now();
  if (msg.imageSize) state.imageSize = msg.imageSize;
  for (const [tracker, items] of [
    ["face", msg.faces],
    ["pose", msg.poses],
    ["hands", msg.hands],
  ]) {
    if (items) state.landmarks[tracker] = { items, at: now };
  }
  state.overlayDirty = true;
}

function onConnectionState(s, detail) {
  state.connectionState = s;
  state.connectionDetail = detail;
  state.connected = s === "connected";
  if (!state.connected) state.stream = null;
}

// ------------------------------------------------------------------ loop

/** With nobody tracked the avatar still blinks now and then, so it looks alive. */
function idleBlink(params, now) {
  const phase = now % 4200;
  const blink = phase < 140 ? 0.05 : 1;
  return {
    ...params,
    ParamEyeLOpen: Math.min(params.ParamEyeLOpen, blink),
    ParamEyeROpen: Math.min(params.ParamEyeROpen, blink),
  };
}

function updateWaiting(now) {
  const el = $("waiting");
  let text = "";
  if (!state.connected) {
    text = state.connectionState === "reconnecting" ? "gateway unreachable — reconnecting…" : "connecting…";
  } else if (now - state.lastMotionAt > WAITING_AFTER_MS && !motion.tracking) {
    text = page.opts.stream ? `waiting for stream "${page.opts.stream}"` : "waiting for a camera";
  }
  if (el.textContent !== text) el.textContent = text;
  el.hidden = !text;
}

// ------------------------------------------------------------------ the page

// What main() wires up; the handlers above reach it here.
const page = { opts: null, config: {}, stage: null, notes: null, panel: null, conn: null, hud: null, overlay: null };

/**
 * Is the stream asked for live? `live`: the live streams' names when known (hello), else
 * read from /streams. The panel always says; the note too, except in OBS mode.
 */
async function checkStream(live) {
  const { opts } = page;
  const known = !opts.stream ? [] : (live ?? (await liveStreams()));
  const text = streamNote(opts.stream, known, { hint: opts.obs ? "" : "choose one in the settings (key s)" });
  state.streamStatus = text;
  page.panel?.setStreamStatus(text);
  page.notes.set("stream", opts.obs ? "" : text);
}

/** What the stage loads: the options, with a dropped file in place of the model. */
function avatarOptions() {
  const { opts } = page;
  return state.dropped ? { ...opts, model: state.dropped.url, modelName: state.dropped.name, avatar: "vrm" } : opts;
}

function forgetDropped() {
  if (state.dropped) URL.revokeObjectURL(state.dropped.url);
  state.dropped = null;
}

/** What changes on the page when an option does (each row's `effect` in options.js). */
const EFFECTS = {
  avatar: () => {
    forgetDropped();
    page.stage.show(avatarOptions());
  },
  view: () => page.stage.setView({ framing: page.opts.framing }),
  subscription: () => {
    page.conn.setUrl(subscriptionUrl());
    checkStream();
  },
  hud: () => page.hud.setVisible(page.opts.hud),
  landmarks: () => {
    page.overlay.setVisible(page.opts.landmarks);
    page.conn.setUrl(subscriptionUrl()); // the raw landmarks come only while the overlay shows them
    state.overlayDirty = true;
  },
  background: () => {
    document.documentElement.style.background = page.opts.bg;
  },
};

/** Set an option: applied at once; a choice made in the panel is remembered and kept in the page's URL. */
function setOption(name, value, { fromPanel = true } = {}) {
  const { opts, config } = page;
  if (opts[name] === value) return;
  opts[name] = value;
  if (fromPanel && !opts.obs) {
    remember(storage(), name, value, config);
    const query = queryWith(location.search, name, value, config);
    if (query !== location.search) history.replaceState(null, "", `${location.pathname}${query}${location.hash}`);
  }
  const effect = option(name)?.effect;
  if (effect) EFFECTS[effect]();
  page.panel?.refresh();
}

/** A .vrm dropped onto the page or opened in the panel: shown instead of the model, in this tab. */
function openFile(file) {
  const picked = avatarFile(file);
  if (picked instanceof Error) {
    page.notes.set("file", picked.message);
    return;
  }
  page.notes.set("file", "");
  forgetDropped();
  state.dropped = picked;
  page.stage.show(avatarOptions());
  page.panel?.refresh();
}

function subscriptionUrl() {
  return socketUrl(location.href, page.opts.wsPath, page.opts);
}

function obsUrl() {
  return `${location.origin}${location.pathname}${pageQuery(page.opts, page.config)}`;
}

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: nothing is remembered
  }
}

async function main() {
  exposeState();
  page.notes = new Notes($("note"));
  page.config = await fetchConfig();
  const opts = readOptions(location.search, page.config, {
    remembered: recall(storage(), page.config),
    obsBrowser: Boolean(window.obsstudio), // OBS's browser source says who it is
  });
  page.opts = opts;
  for (const w of opts.warnings) console.warn(w);
  EFFECTS.background();

  const stage = new Stage($("stage"), (text) => page.notes.set("avatar", text));
  page.stage = stage;
  page.hud = new Hud($("hud"));
  page.overlay = new LandmarkOverlay($("landmarks"));
  page.hud.setVisible(opts.hud);
  page.overlay.setVisible(opts.landmarks);
  stage.view.framing = opts.framing;
  const resize = () => stage.resize(window.innerWidth, window.innerHeight, window.devicePixelRatio || 1);
  window.addEventListener("resize", () => {
    resize();
    page.panel?.refresh();
  });
  resize();
  stage.show(avatarOptions());

  page.conn = new Connection(subscriptionUrl(), {
    onState: onConnectionState,
    onMessage: (data) => onMessage(data, opts),
  });
  installRecorder(page.opts, () => state.stream); // record / stop (r), never in OBS
  page.conn.start();
  setInterval(() => state.streamStatus && checkStream(), STREAM_CHECK_MS);

  // The settings panel and its button exist only outside OBS.
  if (!opts.obs) {
    page.panel = new Panel($("panel"), {
      get: () => page.opts,
      set: setOption,
      openFile,
      dropped: () => state.dropped?.name ?? null,
      obsUrl,
      streams: liveStreams,
    });
    $("toolbar").hidden = false;
    $("settings-button").addEventListener("click", () => page.panel.toggle());
  }
  const transient = { fromPanel: false }; // a key is a quick look: not remembered
  installControls(stage, {
    keys: {
      h: () => setOption("hud", !page.opts.hud, transient),
      l: () => setOption("landmarks", !page.opts.landmarks, transient),
      n: () => $("note").classList.toggle("dismissed"),
      0: () => stage.resetView(),
      s: () => page.panel?.toggle(),
      Escape: () => page.panel?.close(),
    },
    drop: openFile,
    ui: [$("panel"), $("toolbar")],
    toolbar: page.panel ? $("toolbar") : null,
  });

  let lastHud = 0;
  let lastFrame = performance.now();
  const frame = (now) => {
    // The gateway eases the avatar to rest when results stop; the page does it
    // on its own only while the gateway itself is out of reach.
    if (!state.connected) motion.easeToRest(now - lastFrame);
    lastFrame = now;
    const tracking = motion.tracking;
    state.rig = tracking ? motion.live2d : idleBlink(motion.live2d, now);
    stage.avatar.update({ state: motion.state, params: state.rig, tracking });
    stage.avatar.render(now);
    if (state.overlayDirty) {
      // the overlay follows the results (drawn at most once per display frame)
      state.overlayDirty = false;
      const fresh = (t) =>
        now - (state.landmarks[t]?.at ?? -Infinity) <= LANDMARKS_STALE_MS ? state.landmarks[t].items : [];
      page.overlay.draw(
        { face: fresh("face")[0]?.landmarks ?? null, poses: fresh("pose"), hands: fresh("hands") },
        state.imageSize,
        opts.mirror,
      );
    }
    if (now - lastHud > 250) {
      lastHud = now;
      updateWaiting(now);
      page.hud.update({
        ...state,
        renderer: stage.kind,
        faces: Number(motion.state.seen.face),
        fps: fps(now),
        trackers: rates.stats(now),
      });
      state.overlayDirty = true; // clears stale points
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

main().catch((err) => {
  console.error(err);
  const note = $("note");
  note.textContent = `viewer failed to start: ${err.message}`;
  note.hidden = false;
});

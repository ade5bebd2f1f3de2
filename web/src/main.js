// Wiring: config + query -> avatar (from the registry in avatars.js) + socket
// -> per-tracker results -> face parameters (rig.js) and the body state
// (body.js: tracks.js, solve.js, state-filter.js) -> One Euro filters (once
// per result, at the result's timestamp on the page's clock) -> retarget in
// the avatar, drawn every animation frame. Each piece lives in its own
// module; this file only connects them and keeps the page's state.
import { parseMessage, ProtocolError } from "./protocol.js";
import { rigFromFace, NEUTRAL } from "./rig.js";
import { ResultSmoother } from "./filter.js";
import { BodyTracker, TRACKER_STALE_MS } from "./body.js";
import { Connection, socketUrl } from "./connection.js";
import { Hud, LandmarkOverlay } from "./hud.js";
import { readOptions } from "./options.js";
import { live2dParams } from "./retarget-live2d.js";
import { plan, avatarKinds } from "./avatars.js";
import { BuiltinAvatar } from "./avatar-builtin.js";

const FACE_STALE_MS = 500; // no face for this long: ease back to the rest pose
const WAITING_AFTER_MS = 3000; // no results for this long: "waiting for a camera"
const FPS_WINDOW_MS = 2000;

const $ = (id) => document.getElementById(id);

// Smoothing runs once per result, at the result's own timestamp, so what the
// avatar shows depends on the results and not on the display's refresh rate;
// animation frames draw the latest value (filter.js, ResultSmoother). The face
// smoother and the body share one clock: results' ts.ingest mapped onto
// performance.now(), the clock the page eases to rest on when results stop.
let smoother = null;
let body = null; // BodyTracker: per-tracker results -> the filtered body state
// The stream the body's results came from. Not state.stream: the gateway's "stream" event sets that
// before the new stream's first landmarks arrive, and the body must still forget the old stream's.
let bodyStream = null;

const state = {
  connectionState: "connecting",
  connectionDetail: "",
  connected: false,
  stream: null,
  imageSize: null,
  framesReceived: 0,
  arrivals: [], // performance.now() of recent results, for frames/s
  latencyMs: null,
  pipelineMs: null,
  faces: 0,
  worker: "",
  seq: -1,
  lastResultAt: -Infinity,
  lastFaceAt: -Infinity,
  target: { ...NEUTRAL },
  rig: { ...NEUTRAL },
  faceParams: { ...NEUTRAL }, // the smoothed face parameters (rig.js + ResultSmoother)
  body: null, // the filtered body state (docs/rig.md), every bone present
  poses: 0,
  hands: 0,
  overlayDirty: true,
  avatar: null,
  renderer: "builtin",
  note: "",
  landmarks: null,
  protocolErrors: 0,
  lastError: null,
};

function fps(now = performance.now()) {
  const recent = state.arrivals.filter((t) => now - t <= FPS_WINDOW_MS);
  state.arrivals = recent;
  if (recent.length < 2 || now - recent[recent.length - 1] > 1000) return 0;
  return ((recent.length - 1) * 1000) / (recent[recent.length - 1] - recent[0]);
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
    faces: () => state.faces,
    poses: () => state.poses,
    hands: () => state.hands,
    seq: () => state.seq,
    rig: () => Object.freeze({ ...state.rig }),
    // which trackers feed the page, with their rates and latencies
    trackers: () => body?.tracks.stats(performance.now()) ?? {},
    body: () => state.body,
    // what the avatar shows: bones and expressions read back from it (VRM)
    avatar: () => state.avatar?.snapshot?.() ?? null,
    avatarKinds: () => avatarKinds(),
    renderer: () => state.renderer,
    note: () => state.note,
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

function setNote(text) {
  state.note = text;
  const el = $("note");
  el.textContent = text;
  el.hidden = !text;
}

// ------------------------------------------------------------------ avatar

/**
 * Show the first avatar of the registry's plan that loads. Each failure
 * becomes the note, so the page says why it shows a fallback.
 */
async function chooseAvatar(opts, fallback) {
  const steps = plan(opts);
  const failures = [];
  for (const step of steps) {
    if (step.kind.kind === "builtin") break; // already on screen
    setNote(`Loading ${step.label} …`);
    try {
      const avatar = await step.kind.create($(step.kind.canvas), step.target, opts);
      showCanvas(step.kind.canvas);
      fallback.destroy();
      setNote(failures.length ? `${failures.join("; ")} — showing ${step.label}` : "");
      return avatar;
    } catch (err) {
      const why = err?.message || String(err);
      console.warn(`${step.label} failed:`, err);
      failures.push(/could not be loaded/.test(why) ? why : `${step.label} could not be loaded (${why})`);
    }
  }
  showCanvas("builtin");
  if (!opts.model && opts.avatar !== "vrm") setNote("No Live2D model configured — showing the built-in avatar");
  else setNote(`${failures.join("; ")} — showing the built-in avatar`);
  return fallback;
}

function showCanvas(id) {
  for (const c of document.querySelectorAll("canvas.avatar")) c.hidden = c.id !== id;
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
      break;
    }
    case "stream":
      state.stream = msg.stream;
      state.imageSize = msg.imageSize ?? state.imageSize;
      break;
    case "ended":
      if (msg.stream === state.stream) {
        state.stream = null;
        state.faces = state.poses = state.hands = 0;
      }
      break;
    case "error":
      state.lastError = `${msg.code}: ${msg.message}`;
      console.warn("gateway error:", state.lastError);
      break;
    case "landmarks":
      onLandmarks(msg, opts);
      break;
  }
}

function onLandmarks(msg, opts) {
  const now = performance.now();
  state.framesReceived += 1;
  state.arrivals.push(now);
  state.lastResultAt = now;
  if (msg.stream !== bodyStream) body.reset();
  bodyStream = state.stream = msg.stream;
  state.seq = msg.seq;
  state.worker = msg.worker;
  if (msg.imageSize) state.imageSize = msg.imageSize;
  const wall = Date.now();
  // Exponential average: a readable number that still moves within a second.
  const ema = (prev, v) => (prev == null ? v : prev + 0.2 * (v - prev));
  if (Number.isFinite(msg.ts.ingest)) {
    state.latencyMs = ema(state.latencyMs, wall - msg.ts.ingest);
    if (Number.isFinite(msg.ts.gateway)) state.pipelineMs = ema(state.pipelineMs, msg.ts.gateway - msg.ts.ingest);
  }
  const updated = body.offer(msg, now, wall); // steps the body's filters at the results' times
  if (updated.length === 0) return;
  state.body = body.state;
  state.overlayDirty = true;
  if (updated.includes("face")) onFace(msg.faces, opts, now, msg.ts.ingest);
  if (updated.includes("pose")) state.poses = msg.poses.length;
  if (updated.includes("hands")) state.hands = msg.hands.length;
}

function onFace(faces, opts, now, ts) {
  state.faces = faces.length;
  if (faces.length === 0) return;
  const face = faces[0];
  state.landmarks = face.landmarks;
  try {
    state.target = rigFromFace(face, state.imageSize, { mirror: opts.mirror }).params;
    state.faceParams = smoother.result(state.target, ts, now);
    state.lastFaceAt = now;
  } catch (err) {
    state.lastError = `rig: ${err.message}`;
    console.warn("rig failed:", err);
  }
}

function onConnectionState(s, detail) {
  state.connectionState = s;
  state.connectionDetail = detail;
  state.connected = s === "connected";
  if (!state.connected) state.stream = null;
}

// ------------------------------------------------------------------ loop

/** With nobody tracked the avatar still blinks now and then, so it looks alive. */
function idlePose(now) {
  const phase = now % 4200;
  const blink = phase < 140 ? 0.05 : 1;
  return { ...NEUTRAL, ParamEyeLOpen: blink, ParamEyeROpen: blink };
}

function updateWaiting(now) {
  const el = $("waiting");
  let text = "";
  if (!state.connected) {
    text = state.connectionState === "reconnecting" ? "gateway unreachable — reconnecting…" : "connecting…";
  } else if (now - state.lastResultAt > WAITING_AFTER_MS) {
    text = "waiting for a camera";
  }
  if (el.textContent !== text) el.textContent = text;
  el.hidden = !text;
}

async function main() {
  exposeState();
  const config = await fetchConfig();
  const opts = readOptions(location.search, config);
  for (const w of opts.warnings) console.warn(w);
  if (opts.bg) document.documentElement.style.background = opts.bg;

  const builtin = new BuiltinAvatar($("builtin")); // shown until the chosen avatar loads
  let avatar = builtin;
  state.avatar = builtin;
  body = new BodyTracker({ scale: opts.filterScale, staleMs: TRACKER_STALE_MS, onError: (err) => {
    state.lastError = `solve: ${err.message}`;
    console.warn("solve failed:", err);
  } });
  state.body = body.step(performance.now());
  const hud = new Hud($("hud"));
  const overlay = new LandmarkOverlay($("landmarks"));
  hud.setVisible(opts.hud);
  overlay.setVisible(opts.landmarks);
  smoother = new ResultSmoother({ scale: opts.filterScale, clock: body.clock });
  const view = { x: 0, y: 0, scale: 1 };

  const resize = () => avatar.resize(window.innerWidth, window.innerHeight, window.devicePixelRatio || 1);
  window.addEventListener("resize", resize);
  resize();

  chooseAvatar(opts, builtin).then((a) => {
    avatar = a;
    state.avatar = a;
    state.renderer = a.kind;
    a.setView(view);
    resize();
  });

  installControls(view, () => avatar, { hud, overlay });

  const conn = new Connection(socketUrl(location.href, opts.wsPath, opts), {
    onState: onConnectionState,
    onMessage: (data) => onMessage(data, opts),
  });
  conn.start();

  let lastHud = 0;
  const frame = (now) => {
    const tracking = now - state.lastFaceAt < FACE_STALE_MS;
    // No results at all for a while: keep stepping the body filter toward
    // rest, so a lost body eases back instead of freezing. `now` is the
    // page's clock, the one the results' times are mapped onto.
    if (now - state.lastResultAt > TRACKER_STALE_MS && now - body.steppedAt > 30) state.body = body.step(now);
    state.faceParams = smoother.frame(now, tracking ? null : idlePose(now)) ?? state.faceParams;
    state.rig = live2dParams(state.faceParams, state.body, { mirror: opts.mirror });
    avatar.update({ state: state.body, params: state.rig, tracking });
    avatar.render(now);
    if (state.overlayDirty) {
      // the overlay follows the results (drawn at most once per display frame)
      state.overlayDirty = false;
      const fresh = (t) => body.tracks.fresh(t, now, TRACKER_STALE_MS)?.items ?? [];
      overlay.draw({ face: tracking ? state.landmarks : null, poses: fresh("pose"), hands: fresh("hands") }, state.imageSize, opts.mirror);
    }
    if (now - lastHud > 250) {
      lastHud = now;
      updateWaiting(now);
      hud.update({ ...state, fps: fps(now), trackers: body.tracks.stats(now) });
      if (now - state.lastResultAt > TRACKER_STALE_MS) state.overlayDirty = true; // clears stale points
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function installControls(view, currentAvatar, { hud, overlay }) {
  window.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "h") hud.toggle();
    else if (ev.key === "l") {
      overlay.toggle();
      state.overlayDirty = true;
    }
    else if (ev.key === "n") $("note").classList.toggle("dismissed");
    else if (ev.key === "0") Object.assign(view, { x: 0, y: 0, scale: 1 });
    else return;
    currentAvatar().setView(view);
  });
  // Drag to move, wheel to zoom, double-click to reset.
  let drag = null;
  window.addEventListener("pointerdown", (ev) => {
    drag = { x: ev.clientX - view.x, y: ev.clientY - view.y };
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    view.x = ev.clientX - drag.x;
    view.y = ev.clientY - drag.y;
    currentAvatar().setView(view);
  });
  window.addEventListener("pointerup", () => {
    drag = null;
  });
  window.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      view.scale = Math.min(5, Math.max(0.2, view.scale * Math.exp(-ev.deltaY * 0.0015)));
      currentAvatar().setView(view);
    },
    { passive: false },
  );
  window.addEventListener("dblclick", () => {
    Object.assign(view, { x: 0, y: 0, scale: 1 });
    currentAvatar().setView(view);
  });
}

main().catch((err) => {
  console.error(err);
  setNote(`viewer failed to start: ${err.message}`);
});

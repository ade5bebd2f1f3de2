// Wiring: config + query -> avatar (from the registry in avatars.js) + socket
// -> the gateway's motion messages, held by motion.js -> retarget in the
// avatar, drawn every animation frame. The gateway's rig solves and smooths
// (live2d_pose/rig/); the page only retargets and draws. Each piece lives in
// its own module; this file only connects them and keeps the page's state.
import { parseMessage, ProtocolError } from "./protocol.js";
import { MOTION_VERSION } from "./contract.js";
import { MotionHolder } from "./motion.js";
import { Connection, socketUrl } from "./connection.js";
import { Hud, LandmarkOverlay, TrackerRates } from "./hud.js";
import { readOptions } from "./options.js";
import { plan, avatarKinds } from "./avatars.js";
import { BuiltinAvatar } from "./avatar-builtin.js";

const WAITING_AFTER_MS = 3000; // no motion for this long: "waiting for a camera"
const LANDMARKS_STALE_MS = 500; // the overlay drops a tracker's points this much after its last result

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
  avatar: null,
  renderer: "builtin",
  note: "",
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
      // the motion keeps coming for a while: the gateway eases the avatar back to rest
      if (msg.stream === state.stream) state.stream = null;
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
    if (!state.note.includes("motion version")) {
      setNote(`The gateway sends motion version ${msg.unsupported}; this page knows version ${MOTION_VERSION}. Reload the page, or update it.`);
    }
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
  for (const [tracker, items] of [["face", msg.faces], ["pose", msg.poses], ["hands", msg.hands]]) {
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
  return { ...params, ParamEyeLOpen: Math.min(params.ParamEyeLOpen, blink), ParamEyeROpen: Math.min(params.ParamEyeROpen, blink) };
}

function updateWaiting(now) {
  const el = $("waiting");
  let text = "";
  if (!state.connected) {
    text = state.connectionState === "reconnecting" ? "gateway unreachable — reconnecting…" : "connecting…";
  } else if (now - state.lastMotionAt > WAITING_AFTER_MS && !motion.tracking) {
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
  const hud = new Hud($("hud"));
  const overlay = new LandmarkOverlay($("landmarks"));
  hud.setVisible(opts.hud);
  overlay.setVisible(opts.landmarks);
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

  // the raw landmarks come only while the overlay shows them
  const url = () => socketUrl(location.href, opts.wsPath, { ...opts, landmarks: overlay.visible });
  const conn = new Connection(url(), {
    onState: onConnectionState,
    onMessage: (data) => onMessage(data, opts),
  });
  installControls(view, () => avatar, { hud, overlay, resubscribe: () => conn.setUrl(url()) });
  conn.start();

  let lastHud = 0;
  let lastFrame = performance.now();
  const frame = (now) => {
    // The gateway eases the avatar to rest when results stop; the page does it
    // on its own only while the gateway itself is out of reach.
    if (!state.connected) motion.easeToRest(now - lastFrame);
    lastFrame = now;
    const tracking = motion.tracking;
    state.rig = tracking ? motion.live2d : idleBlink(motion.live2d, now);
    avatar.update({ state: motion.state, params: state.rig, tracking });
    avatar.render(now);
    if (state.overlayDirty) {
      // the overlay follows the results (drawn at most once per display frame)
      state.overlayDirty = false;
      const fresh = (t) => (now - (state.landmarks[t]?.at ?? -Infinity) <= LANDMARKS_STALE_MS ? state.landmarks[t].items : []);
      overlay.draw({ face: fresh("face")[0]?.landmarks ?? null, poses: fresh("pose"), hands: fresh("hands") }, state.imageSize, opts.mirror);
    }
    if (now - lastHud > 250) {
      lastHud = now;
      updateWaiting(now);
      hud.update({ ...state, faces: Number(motion.state.seen.face), fps: fps(now), trackers: rates.stats(now) });
      state.overlayDirty = true; // clears stale points
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function installControls(view, currentAvatar, { hud, overlay, resubscribe }) {
  window.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "h") hud.toggle();
    else if (ev.key === "l") {
      overlay.toggle();
      resubscribe(); // landmarks on or off
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

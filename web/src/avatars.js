// The avatar registry: each kind of avatar plugs in here with one small
// interface, the way pixi-live2d-display registers its runtimes, so main.js
// has no per-kind code.
//
// A kind: {kind, canvas (element id), test(options) -> bool,
//   targets(options) -> [{target, label}] (what to load, in order of preference),
//   create(canvas, target, options) -> Promise<Avatar>}.
// An Avatar: {kind, update({state, params, tracking}), render(nowMs),
//   resize(w, h, dpr), setView({x, y, scale, framing}), destroy(), snapshot?()}.
// framing ("auto", "upper", "full") is the page's choice of frame; an avatar frames what it can.
//
// plan(options) lists what to try, in order, with what each failure means:
// the chosen avatar first, then the fallbacks, ending with the built-in 2D
// avatar that needs nothing (not even WebGL), so the page is never blank.
import { BuiltinAvatar } from "./avatar-builtin.js";
import { loadCubismCore } from "./core-loader.js";
import { whyUnreadable } from "./model-file.js";

/** The built-in 3D avatar, made by tools/build-vrm.mjs at build time. */
const BUILTIN_VRM = "builtin-avatar.vrm";

const KINDS = [];

export function registerAvatarKind(kind) {
  if (KINDS.some((k) => k.kind === kind.kind)) throw new Error(`avatar kind ${kind.kind} registered twice`);
  KINDS.push(kind);
}

export const avatarKinds = () => KINDS.map((k) => k.kind);

/** A VRM URL: .vrm, or anything with ?avatar=vrm (a dropped file: its name says). */
export function isVrm(options) {
  if (options.avatar === "vrm") return true;
  const path = (options.modelName || options.model || "").split(/[?#]/)[0].toLowerCase();
  return path.endsWith(".vrm");
}

/** How the note names the model: a dropped file by its name, not its blob: URL. */
const modelLabel = (o) => o.modelName || o.model;

registerAvatarKind({
  kind: "vrm",
  canvas: "vrm",
  test: isVrm,
  // a VRM that fails to load falls back to the built-in 3D avatar first
  targets: (o) => [
    ...(o.model ? [{ target: o.model, label: `VRM ${modelLabel(o)}` }] : []),
    { target: BUILTIN_VRM, label: "the built-in 3D avatar" },
  ],
  async create(canvas, target) {
    const { createVrmAvatar } = await import("./avatar-vrm.js");
    return createVrmAvatar(canvas, target);
  },
});

registerAvatarKind({
  kind: "live2d",
  canvas: "live2d",
  test: (options) => Boolean(options.model) && !isVrm(options),
  targets: (o) => [{ target: o.model, label: `Live2D model ${modelLabel(o)}` }],
  async create(canvas, target, options) {
    await loadCubismCore(options.coreUrl);
    const { createLive2DAvatar } = await import("./avatar-live2d.js");
    try {
      return await createLive2DAvatar(canvas, target);
    } catch (err) {
      throw new Error(`Live2D model could not be loaded from ${target} (${await live2dFailure(target, err)})`);
    }
  },
});

registerAvatarKind({
  kind: "builtin",
  canvas: "builtin",
  test: () => true,
  targets: () => [{ target: null, label: "the built-in avatar" }],
  async create(canvas) {
    return new BuiltinAvatar(canvas);
  },
});

/** pixi-live2d-display says only "Network error" for a server that refused CORS: ask it again. */
async function live2dFailure(url, err) {
  try {
    const res = await fetch(url, { method: "HEAD" });
    if (res.ok || res.status === 405) return err?.message || String(err);
    return `the server answered HTTP ${res.status}`;
  } catch (fetchErr) {
    return whyUnreadable(url, fetchErr);
  }
}

/**
 * What to try for these options, in order: [{kind, target, label}]. The
 * chosen kind's targets, then the built-in 2D avatar (unless it was chosen).
 */
export function plan(options) {
  const chosen = KINDS.find((k) => k.test(options));
  const steps = chosen.targets(options).map((t) => ({ kind: chosen, ...t }));
  const last = KINDS.find((k) => k.kind === "builtin");
  if (chosen !== last) steps.push(...last.targets(options).map((t) => ({ kind: last, ...t })));
  return steps;
}

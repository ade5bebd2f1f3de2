// Page options from the query string and the gateway's /config.json. Pure,
// so the one security rule here (?core= is honoured only when the gateway
// allows it) is unit-tested.
import { FRAMINGS } from "./framing.js";

export const DEFAULT_CONFIG = Object.freeze({
  model: "",
  coreUrl: "https://cubism.live2d.com/sdk-web/cubismcore/live2dcubismcore.min.js",
  allowCoreParam: false,
  // relative, so a page served under a prefix talks to the socket under it
  wsPath: "ws",
});

const FLAG_ON = new Set(["1", "true", "yes", "on", ""]);

function flag(params, name, dflt) {
  if (!params.has(name)) return dflt;
  return FLAG_ON.has(params.get(name).toLowerCase());
}

/** "00ff00" / "#0f0" / "green" / "rgba(...)" -> a CSS colour, or "" (transparent). */
export function cssColor(value) {
  if (!value) return "";
  const v = value.trim();
  if (/^[0-9a-f]{3}([0-9a-f]{3})?([0-9a-f]{2})?$/i.test(v)) return `#${v}`; // '#' would start the URL fragment
  if (/^#[0-9a-f]{3,8}$/i.test(v) || /^[a-z]+$/i.test(v) || /^(rgb|rgba|hsl|hsla)\([0-9.,%\s]+\)$/i.test(v)) return v;
  return "";
}

/**
 * @param {string} search location.search
 * @param {object} config parsed /config.json (may be partial or empty)
 * @returns {object} options plus `warnings` (strings for the console)
 */
export function readOptions(search, config = {}) {
  const q = new URLSearchParams(search);
  const cfg = { ...DEFAULT_CONFIG, ...(config && typeof config === "object" ? config : {}) };
  const warnings = [];

  let coreUrl = typeof cfg.coreUrl === "string" && cfg.coreUrl ? cfg.coreUrl : DEFAULT_CONFIG.coreUrl;
  if (q.has("core")) {
    if (cfg.allowCoreParam === true) coreUrl = q.get("core");
    // A page that loads a script named by its own query string runs whatever
    // a crafted link names: only the gateway's operator may allow that.
    else warnings.push("?core= ignored: the gateway does not allow it (allowCoreParam is false); using config.coreUrl");
  }

  const framingRaw = (q.get("framing") ?? "").toLowerCase();
  const framing = FRAMINGS.includes(framingRaw) ? framingRaw : "auto";
  if (framingRaw && framing !== framingRaw) warnings.push(`?framing=${framingRaw} is not one of ${FRAMINGS.join(", ")}; using auto`);

  const bgRaw = q.get("bg") ?? "";
  const bg = cssColor(bgRaw);
  if (bgRaw && !bg) warnings.push(`?bg=${bgRaw} is not a colour; background stays transparent`);

  return {
    stream: q.get("stream") ?? "",
    token: q.get("token") ?? "",
    model: q.get("model") || (typeof cfg.model === "string" ? cfg.model : ""),
    // "vrm": a 3D avatar (the built-in one when no model is given)
    avatar: (q.get("avatar") ?? "").toLowerCase(),
    coreUrl,
    wsPath: typeof cfg.wsPath === "string" && cfg.wsPath ? cfg.wsPath : DEFAULT_CONFIG.wsPath,
    hud: flag(q, "hud", false),
    landmarks: flag(q, "landmarks", false),
    mirror: flag(q, "mirror", true),
    // the 3D avatar's framing: upper body, full body, or auto (full while the legs are seen)
    framing,
    bg,
    warnings,
  };
}

// Page options: one table (OPTIONS) that every part of the page reads. readOptions
// takes them from the query string, the gateway's /config.json and the choices
// remembered from the settings panel; the panel draws a control for each row;
// pageQuery writes them back as the URL to paste into OBS. Pure, so the rules
// (the query wins; ?core= only when the gateway allows it) are unit-tested.

export const DEFAULT_CONFIG = Object.freeze({
  model: "",
  coreUrl: "https://cubism.live2d.com/sdk-web/cubismcore/live2dcubismcore.min.js",
  allowCoreParam: false,
  // relative, so a page served under a prefix talks to the socket under it
  wsPath: "ws",
});

/**
 * One row per option: name (in the options object), type (how it is read and
 * written), default, query (its key in the URL), label (the panel's), and:
 * config: the /config.json key that sets it where the query does not;
 * effect: what changes on the page when it changes (main.js acts on it);
 * panel: false for options the panel does not show; remember: false for those
 * never stored (secrets, the OBS switch); file: the files the panel may open for it.
 */
export const OPTIONS = Object.freeze([
  { name: "model", type: "text", default: "", query: "model", config: "model", effect: "avatar", file: ".vrm",
    label: "Model: a .vrm or Live2D .model3.json URL (empty: the avatar below)" },
  { name: "avatar", type: "choice", default: "", query: "avatar", effect: "avatar", label: "Avatar without a model",
    choices: { "": "built-in 2D", vrm: "built-in 3D (VRM)" } },
  { name: "framing", type: "choice", default: "auto", query: "framing", effect: "view", label: "Framing",
    choices: { auto: "auto: the whole body while the legs are seen", upper: "upper body", full: "full body" } },
  { name: "mirror", type: "flag", default: true, query: "mirror", effect: "subscription",
    label: "Mirror: your right hand moves the arm on the screen's right" },
  { name: "stream", type: "stream", default: "", query: "stream", effect: "subscription", label: "Stream" },
  { name: "hud", type: "flag", default: false, query: "hud", effect: "hud", label: "HUD: connection, rates, latency (key h)" },
  { name: "landmarks", type: "flag", default: false, query: "landmarks", effect: "landmarks",
    label: "Landmark overlay (key l)" },
  { name: "bg", type: "color", default: "", query: "bg", effect: "background",
    label: "Background: a colour such as 00ff00 or green (empty: transparent)" },
  { name: "token", type: "text", default: "", query: "token", label: "Viewer token", panel: false, remember: false },
  { name: "obs", type: "flag", default: false, query: "obs", label: "OBS mode: no settings, no hints", panel: false,
    remember: false },
]);

export const option = (name) => OPTIONS.find((o) => o.name === name);

const FLAG_ON = new Set(["1", "true", "yes", "on", ""]);
const FLAG_OFF = new Set(["0", "false", "no", "off"]);

/** "00ff00" / "#0f0" / "green" / "rgba(...)" -> a CSS colour, or "" (transparent). */
export function cssColor(value) {
  if (!value) return "";
  const v = value.trim();
  if (/^[0-9a-f]{3}([0-9a-f]{3})?([0-9a-f]{2})?$/i.test(v)) return `#${v}`; // '#' would start the URL fragment
  if (/^#[0-9a-f]{3,8}$/i.test(v) || /^[a-z]+$/i.test(v) || /^(rgb|rgba|hsl|hsla)\([0-9.,%\s]+\)$/i.test(v)) return v;
  return "";
}

// Each type: parse(raw string, row) -> value, or undefined when the string is not one;
// format(value) -> the string the URL carries.
const TYPES = {
  flag: {
    parse: (raw) => (FLAG_ON.has(raw.toLowerCase()) ? true : FLAG_OFF.has(raw.toLowerCase()) ? false : undefined),
    format: (v) => (v ? "1" : "0"),
  },
  text: { parse: (raw) => raw, format: String },
  stream: { parse: (raw) => raw, format: String },
  choice: {
    parse: (raw, row) => (Object.hasOwn(row.choices, raw.toLowerCase()) ? raw.toLowerCase() : undefined),
    format: String,
  },
  color: {
    parse: (raw) => (raw.trim() === "" ? "" : cssColor(raw) || undefined),
    format: (v) => v.replace(/^#/, ""),
  },
};

export const formatValue = (row, value) => TYPES[row.type].format(value);

/** The value a row has when neither the query nor a remembered choice sets it. */
function baseline(row, cfg) {
  return row.config && typeof cfg[row.config] === "string" ? cfg[row.config] : row.default;
}

/**
 * @param {string} search location.search
 * @param {object} config parsed /config.json (may be partial or empty)
 * @param {object} [more] remembered: {name: string} choices from the panel (recall());
 *   obsBrowser: the page runs in OBS's browser source (window.obsstudio exists)
 * @returns {object} a value per OPTIONS row, coreUrl and wsPath, plus `warnings` (for the console)
 */
export function readOptions(search, config = {}, { remembered = {}, obsBrowser = false } = {}) {
  const q = new URLSearchParams(search);
  const cfg = { ...DEFAULT_CONFIG, ...(config && typeof config === "object" ? config : {}) };
  const warnings = [];
  const obs = obsBrowser || TYPES.flag.parse(q.get("obs") ?? "0") === true;
  // OBS shows exactly what its URL says: choices remembered in another session do not apply
  const layers = [[q, (key) => `?${key}=`], ...(obs ? [] : [[new Map(Object.entries(remembered ?? {})), (key) => `remembered ${key}:`]])];

  const opts = {};
  for (const row of OPTIONS) {
    opts[row.name] = baseline(row, cfg);
    for (const [source, where] of layers) {
      if (!source.has(row.query)) continue;
      const raw = String(source.get(row.query));
      const value = TYPES[row.type].parse(raw, row);
      if (value !== undefined) {
        opts[row.name] = value;
        break;
      }
      warnings.push(`${where(row.query)}${raw} is not ${describeType(row)}; ignored`);
    }
  }
  opts.obs = obs;

  let coreUrl = typeof cfg.coreUrl === "string" && cfg.coreUrl ? cfg.coreUrl : DEFAULT_CONFIG.coreUrl;
  if (q.has("core")) {
    if (cfg.allowCoreParam === true) coreUrl = q.get("core");
    // A page that loads a script named by its own query string runs whatever
    // a crafted link names: only the gateway's operator may allow that.
    else warnings.push("?core= ignored: the gateway does not allow it (allowCoreParam is false); using config.coreUrl");
  }
  return {
    ...opts,
    coreUrl,
    wsPath: typeof cfg.wsPath === "string" && cfg.wsPath ? cfg.wsPath : DEFAULT_CONFIG.wsPath,
    warnings,
  };
}

function describeType(row) {
  if (row.type === "flag") return "0 or 1";
  if (row.type === "choice") return `one of ${Object.keys(row.choices).filter(Boolean).join(", ")}`;
  if (row.type === "color") return "a colour";
  return "valid";
}

/**
 * The query string that gives exactly these options on a fresh page (in OBS):
 * each option that differs from what the page would have anyway, and obs=1.
 * ?core= is left out: the gateway's own setting applies there too.
 */
export function pageQuery(opts, config = {}) {
  const cfg = { ...DEFAULT_CONFIG, ...config };
  const q = new URLSearchParams();
  for (const row of OPTIONS) {
    if (row.name === "obs") continue;
    const value = opts[row.name];
    if (value === undefined || value === baseline(row, cfg)) continue;
    q.set(row.query, formatValue(row, value));
  }
  q.set("obs", "1");
  return `?${q}`;
}

/** The page's own query after the panel set `name` to `value`: a key the query names is
 * rewritten (the query wins over remembered choices, so it must say the new value); the rest stays. */
export function queryWith(search, name, value, config = {}) {
  const row = option(name);
  const q = new URLSearchParams(search);
  if (!q.has(row.query)) return search;
  if (value === baseline(row, { ...DEFAULT_CONFIG, ...config })) q.delete(row.query);
  else q.set(row.query, formatValue(row, value));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------- remembered choices

export const STORAGE_KEY = "live2d-pose.viewer";

/**
 * The panel's remembered choices, as query strings by query key. A choice of an option
 * the gateway's config also sets is dropped once that setting changed since (a new
 * --model wins over the model picked for the old one).
 */
export function recall(storage, config = {}) {
  let saved;
  try {
    saved = JSON.parse(storage?.getItem(STORAGE_KEY) ?? "null");
  } catch {
    return {};
  }
  if (!saved || typeof saved.values !== "object" || saved.values === null) return {};
  const cfg = { ...DEFAULT_CONFIG, ...config };
  const values = {};
  for (const row of OPTIONS) {
    const raw = saved.values[row.query];
    if (typeof raw !== "string" || row.remember === false) continue;
    if (row.config && saved.config?.[row.config] !== cfg[row.config]) continue;
    values[row.query] = raw;
  }
  return values;
}

/** Remember one choice made in the panel (a value equal to the page's own is forgotten). */
export function remember(storage, name, value, config = {}) {
  const row = option(name);
  if (!storage || row.remember === false) return;
  const cfg = { ...DEFAULT_CONFIG, ...config };
  let saved;
  try {
    saved = JSON.parse(storage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    saved = null;
  }
  const values = saved && typeof saved.values === "object" && saved.values !== null ? saved.values : {};
  if (value === baseline(row, cfg)) delete values[row.query];
  else values[row.query] = formatValue(row, value);
  const configSeen = Object.fromEntries(OPTIONS.filter((r) => r.config).map((r) => [r.config, cfg[r.config]]));
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify({ values, config: configSeen }));
  } catch (err) {
    console.warn(`cannot remember the choice (${err.message})`); // private mode, quota
  }
}

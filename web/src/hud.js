// Debug overlays: the HUD (text) and the landmark view (face, pose and hand
// points of the latest results). Both are off by default so the OBS output
// shows only the avatar.

const RATE_WINDOW_MS = 2000;

/**
 * Each tracker's rate and latency, from the result times the motion messages
 * carry (a new time for a tracker = a new result of it). Pure: times passed in.
 */
export class TrackerRates {
  constructor() {
    this.last = {}; // tracker -> its latest result time (ts.ingest)
    this.arrivals = {}; // tracker -> page times its new results arrived
    this.latency = {}; // tracker -> smoothed end-to-end ms
  }

  /** The motion's `times` ({tracker: ts.ingest | null}), arriving at `now` (page clock), `wall` = Date.now(). */
  offer(times, now, wall = Date.now()) {
    for (const [tracker, t] of Object.entries(times ?? {})) {
      if (t === null || t === this.last[tracker]) continue;
      this.last[tracker] = t;
      this.arrivals[tracker] ??= [];
      this.arrivals[tracker].push(now);
      const p = this.latency[tracker];
      this.latency[tracker] = p == null ? wall - t : p + 0.2 * (wall - t - p);
    }
  }

  /** Per tracker that has reported: {rate (results/s over 2 s), latencyMs}. */
  stats(now) {
    const out = {};
    for (const [tracker, all] of Object.entries(this.arrivals)) {
      const recent = all.filter((t) => now - t <= RATE_WINDOW_MS);
      this.arrivals[tracker] = recent;
      const rate =
        recent.length < 2 || now - recent[recent.length - 1] > 1000
          ? 0
          : ((recent.length - 1) * 1000) / (recent[recent.length - 1] - recent[0]);
      out[tracker] = { rate, latencyMs: this.latency[tracker] ?? null };
    }
    return out;
  }
}

export class Hud {
  constructor(el) {
    this.el = el;
    this.visible = false;
  }

  setVisible(on) {
    this.visible = on;
    this.el.hidden = !on;
  }

  toggle() {
    this.setVisible(!this.visible);
  }

  update(s) {
    if (!this.visible) return;
    const ms = (v) => (v == null ? "–" : `${Math.round(v)} ms`);
    const rows = [
      ["connection", s.connectionState + (s.connectionDetail ? ` (${s.connectionDetail})` : "")],
      ["stream", s.stream ?? "–"],
      ["frames/s", s.fps.toFixed(1)],
      ["latency", `${ms(s.latencyMs)} end-to-end · ${ms(s.pipelineMs)} pipeline`],
      ["faces", String(s.faces)],
      ["updates", String(s.framesReceived)],
      ["renderer", s.renderer],
      ["trackers", Object.keys(s.trackers ?? {}).join(", ") || "–"],
      // each tracker's own rate and latency (one frame's trackers may arrive apart)
      ...Object.entries(s.trackers ?? {}).map(([name, t]) => [
        `  ${name}`,
        `${t.rate.toFixed(1)}/s · ${ms(t.latencyMs)}`,
      ]),
    ];
    this.el.replaceChildren(
      ...rows.map(([k, v]) => {
        const row = document.createElement("div");
        const key = document.createElement("span");
        key.className = "k";
        key.textContent = k;
        const val = document.createElement("span");
        val.className = "v";
        val.dataset.key = k;
        val.textContent = v;
        row.append(key, val);
        return row;
      }),
    );
  }
}

export class LandmarkOverlay {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.visible = false;
  }

  setVisible(on) {
    this.visible = on;
    this.canvas.hidden = !on;
  }

  toggle() {
    this.setVisible(!this.visible);
  }

  /**
   * Draw the camera frame's outline and the latest points, in a corner box of
   * the image's aspect: {face: Float32Array(478*3) | null, poses: [...], hands: [...]}.
   */
  draw({ face = null, poses = [], hands = [] } = {}, imageSize, mirror) {
    if (!this.visible) return;
    const { canvas, ctx } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr);
    const h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.clearRect(0, 0, w, h);
    const aspect = imageSize ? imageSize.width / imageSize.height : 4 / 3;
    const bw = Math.min(w * 0.28, h * 0.36 * aspect);
    const bh = bw / aspect;
    const x0 = w - bw - 12 * dpr;
    const y0 = h - bh - 12 * dpr;
    ctx.fillStyle = "rgba(10, 14, 30, 0.55)";
    ctx.fillRect(x0, y0, bw, bh);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.6)";
    ctx.strokeRect(x0, y0, bw, bh);
    const r = Math.max(1, dpr);
    const dots = (arr, stride, colour, size, minVisibility = null) => {
      ctx.fillStyle = colour;
      for (let i = 0; i < arr.length / stride; i++) {
        if (minVisibility != null && arr[stride * i + 3] < minVisibility) continue;
        let x = arr[stride * i];
        const y = arr[stride * i + 1];
        if (x < 0 || x > 1 || y < 0 || y > 1) continue;
        if (mirror) x = 1 - x;
        ctx.fillRect(x0 + x * bw - size / 2, y0 + y * bh - size / 2, size, size);
      }
    };
    if (face) dots(face, 3, "#7cf5c4", r);
    for (const pose of poses) dots(pose.landmarks, 5, "#ffd166", 3 * r, 0.5);
    for (const hand of hands) dots(hand.landmarks, 3, hand.handedness === "Left" ? "#ff7aa2" : "#8ab4ff", 2.5 * r);
  }
}

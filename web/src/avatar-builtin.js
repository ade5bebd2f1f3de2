// The built-in avatar: a friendly cartoon head drawn with canvas 2D, driven by
// the same parameter map as a Live2D model (the motion's Live2D parameters). It is what the page
// shows without a model, or when Cubism Core or the model cannot load, so the
// page is never blank (offline included).
//
// Facial features are points on a sphere: the head's yaw and pitch rotate
// them and an orthographic projection places them, so turning the head slides
// the eyes, nose and mouth across the face and foreshortens the far side.
// Roll (ParamAngleZ) rotates the whole head about the neck.
//
// Shoulders, arms and hands follow the motion's state (retarget-live2d.js
// armPose): each arm segment is drawn along its direction projected onto the
// screen (the avatar faces you, so its left is the screen's right), and the
// fingers shorten as they curl.
//
// It is a bust, by choice: head, shoulders, arms and hands, framed like a
// webcam, and no legs. The state's legs and the hips' position (docs/rig.md)
// go to the VRM avatars (the built-in 3D one has legs) and to VMC.
import { armPose } from "./retarget-live2d.js";

const PALETTE = {
  skin: "#ffe0cc",
  skinShade: "#f6c6ad",
  outline: "#5a3e44",
  hair: "#6b4f8e",
  hairShade: "#563f74",
  hairLight: "#8a6fb0",
  iris: "#4f86d9",
  irisDark: "#2c4f94",
  pupil: "#1d2340",
  white: "#ffffff",
  mouth: "#8a3242",
  tongue: "#f08a9a",
  blush: "#ff8fa3",
  hoodie: "#7fb8f0",
  hoodieShade: "#5f98d6",
  collar: "#f4f7ff",
};

const DEG = Math.PI / 180;
const R = 120; // head radius in design units
// What the frame fits, in design units (the head's centre at 0, +y down): from above the
// hair to below the hands hanging at rest, and the shoulders with the arms a little out.
// The body runs on past the frame's bottom edge, so the bust never ends in mid-air.
const FRAME = { top: -170, bottom: 440, halfWidth: 300 };
const MARGIN = { top: 0.06, bottom: 0.03, side: 0.03 }; // of the canvas
const BODY_BOTTOM = 4000; // far below any frame

export class BuiltinAvatar {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.params = {};
    this.arms = null;
    this.view = { x: 0, y: 0, scale: 1 };
    this.kind = "builtin";
  }

  /** One animation frame: Live2D-style parameters and the motion's state. */
  update({ params, state }) {
    this.params = params ?? {};
    this.arms = state ? armPose(state) : null;
  }

  /** For tests: the arm pose, and where each hand was drawn (its box on the canvas, in pixels). */
  snapshot() {
    return { arms: this.arms, hands: this.hands ?? null };
  }

  /** Live2D-style parameter map; missing ids keep their defaults. */
  setParams(params) {
    this.params = params;
  }

  setView(view) {
    this.view = view;
  }

  resize(width, height, dpr = 1) {
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.dpr = dpr;
  }

  destroy() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  render(nowMs) {
    const { ctx, canvas } = this;
    const p = this.params;
    const get = (k, d = 0) => (Number.isFinite(p[k]) ? p[k] : d);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);

    const { scale, x, y } = this.frame();
    const breathe = Math.sin(nowMs / 900) * 2.5;
    ctx.translate(x, y);
    ctx.scale(scale, scale);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";

    // Body: follows ParamBodyAngle*, breathes a little.
    ctx.save();
    ctx.translate(get("ParamBodyAngleX") * 2.5, breathe);
    ctx.rotate(get("ParamBodyAngleZ") * 0.8 * DEG);
    drawBody(ctx, get("ParamBodyAngleX"));
    ctx.restore();

    // Head: rotate about the neck for roll.
    ctx.save();
    ctx.translate(get("ParamBodyAngleX") * 3, 95 + breathe * 0.6);
    ctx.rotate(get("ParamAngleZ") * DEG);
    ctx.translate(0, -95);
    drawHead(ctx, {
      yaw: get("ParamAngleX") * 1.1 * DEG,
      pitch: get("ParamAngleY") * 0.6 * DEG, // the head is drawn from slightly below, keep nods subtle
      eyeL: get("ParamEyeLOpen", 1),
      eyeR: get("ParamEyeROpen", 1),
      smileL: get("ParamEyeLSmile"),
      smileR: get("ParamEyeRSmile"),
      ballX: get("ParamEyeBallX"),
      ballY: get("ParamEyeBallY"),
      browL: get("ParamBrowLY"),
      browR: get("ParamBrowRY"),
      mouthOpen: get("ParamMouthOpenY"),
      mouthForm: get("ParamMouthForm", 0.3),
      cheek: get("ParamCheek"),
    });
    ctx.restore();

    // Arms last, in the body's frame: a raised hand passes in front of the face.
    if (this.arms) {
      ctx.save();
      ctx.translate(get("ParamBodyAngleX") * 2.5, breathe);
      ctx.rotate(get("ParamBodyAngleZ") * 0.8 * DEG);
      this.hands = {};
      for (const side of ["left", "right"]) this.hands[side] = drawArm(ctx, side, this.arms[side]);
      ctx.restore();
    }
  }

  /** Where the design units go on the canvas: FRAME fitted between the margins, then the view's pan and zoom. */
  frame() {
    const { width, height } = this.canvas;
    const dpr = this.dpr || 1;
    const usableHeight = height * (1 - MARGIN.top - MARGIN.bottom);
    const fit = Math.min(usableHeight / (FRAME.bottom - FRAME.top), (width * (1 - 2 * MARGIN.side)) / (2 * FRAME.halfWidth));
    const scale = fit * this.view.scale;
    // the frame's middle stays where it is on the canvas when zooming
    const middle = (FRAME.top + FRAME.bottom) / 2;
    const middleY = height * MARGIN.top + usableHeight / 2;
    return { scale, x: width / 2 + this.view.x * dpr, y: middleY - middle * scale + this.view.y * dpr };
  }
}

/** Point on the head sphere (theta: around, phi: down, degrees) after yaw/pitch. */
function project(thetaDeg, phiDeg, yaw, pitch, radius = R) {
  const t = thetaDeg * DEG;
  const f = phiDeg * DEG;
  const x0 = Math.sin(t) * Math.cos(f);
  const y0 = Math.sin(f);
  const z0 = Math.cos(t) * Math.cos(f);
  // yaw: + turns the face to the screen's right
  const x1 = x0 * Math.cos(yaw) + z0 * Math.sin(yaw);
  const z1 = -x0 * Math.sin(yaw) + z0 * Math.cos(yaw);
  // pitch: + looks up
  const y2 = y0 * Math.cos(pitch) - z1 * Math.sin(pitch);
  const z2 = y0 * Math.sin(pitch) + z1 * Math.cos(pitch);
  return { x: x1 * radius, y: y2 * radius * 1.05, z: z2 };
}

function drawBody(ctx, bodyX) {
  // shoulders / hoodie
  ctx.fillStyle = PALETTE.hoodie;
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 5;
  ctx.beginPath();
  ctx.moveTo(-60, 150);
  ctx.bezierCurveTo(-150, 160, -190, 210, -200, 330);
  ctx.lineTo(-204, BODY_BOTTOM);
  ctx.lineTo(204, BODY_BOTTOM);
  ctx.lineTo(200, 330);
  ctx.bezierCurveTo(190, 210, 150, 160, 60, 150);
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  // shading on the side turned away
  ctx.save();
  ctx.clip();
  ctx.fillStyle = PALETTE.hoodieShade;
  ctx.beginPath();
  const side = bodyX >= 0 ? -1 : 1;
  ctx.ellipse(side * 190, 980, 70 + Math.abs(bodyX) * 4, 860, 0, 0, Math.PI * 2); // down past the frame, like the body
  ctx.fill();
  ctx.restore();
  // neck
  ctx.fillStyle = PALETTE.skinShade;
  ctx.beginPath();
  ctx.moveTo(-30, 80);
  ctx.lineTo(-32, 165);
  ctx.quadraticCurveTo(0, 185, 32, 165);
  ctx.lineTo(30, 80);
  ctx.closePath();
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.stroke();
  // collar
  ctx.fillStyle = PALETTE.collar;
  ctx.beginPath();
  ctx.moveTo(-62, 150);
  ctx.quadraticCurveTo(0, 215, 62, 150);
  ctx.quadraticCurveTo(0, 185, -62, 150);
  ctx.fill();
  ctx.stroke();
  // hoodie strings
  ctx.lineWidth = 4;
  for (const x of [-22, 22]) {
    ctx.beginPath();
    ctx.moveTo(x, 185);
    ctx.lineTo(x * 1.1, 250);
    ctx.stroke();
    ctx.fillStyle = PALETTE.collar;
    ctx.beginPath();
    ctx.arc(x * 1.1, 254, 5, 0, Math.PI * 2);
    ctx.fill();
    ctx.stroke();
  }
}

// Design units: the shoulders sit at x = ±135 (the avatar's left on the screen's right).
const UPPER_ARM = 105;
const FOREARM = 95;
const FINGER = 24;
const NEARER_HAND = 0.6; // how much bigger a hand held straight toward the viewer is drawn

/** Strokes the current path as a skin-coloured line with an outline around it (a finger). */
function strokeOutlined(ctx, outer, inner) {
  ctx.lineWidth = outer;
  ctx.strokeStyle = PALETTE.outline;
  ctx.stroke();
  ctx.lineWidth = inner;
  ctx.strokeStyle = PALETTE.skin;
  ctx.stroke();
}

function drawArm(ctx, side, arm) {
  if (!arm) return;
  const sx = side === "left" ? 1 : -1;
  const shoulder = { x: 132 * sx, y: 178 };
  // screen: +x right, +y down; the avatar frame's x is its left (screen right), y up
  const step = (p, dir, len) => ({ x: p.x + dir[0] * len, y: p.y - dir[1] * len });
  const elbow = step(shoulder, arm.upperDir, UPPER_ARM * Math.hypot(arm.upperDir[0], arm.upperDir[1]) ** 0.5);
  const wrist = step(elbow, arm.lowerDir, FOREARM * Math.hypot(arm.lowerDir[0], arm.lowerDir[1]) ** 0.5);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  // sleeve: an outlined thick stroke
  for (const [width, colour] of [[50, PALETTE.outline], [42, PALETTE.hoodie]]) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    ctx.moveTo(shoulder.x, shoulder.y);
    ctx.lineTo(elbow.x, elbow.y);
    ctx.lineTo(wrist.x, wrist.y);
    ctx.stroke();
  }
  // hand: a palm and five fingers along the hand's direction, larger as it comes toward the viewer
  // (an arm held out to the camera is short on the screen: its hand near, and big, tells the reach)
  const hd = Math.hypot(arm.handDir[0], arm.handDir[1]) > 0.2 ? arm.handDir : arm.lowerDir;
  const angle = Math.atan2(-hd[1], hd[0]);
  const near = (arm.upperDir[2] * UPPER_ARM + arm.lowerDir[2] * FOREARM) / (UPPER_ARM + FOREARM);
  ctx.save();
  ctx.translate(wrist.x, wrist.y);
  ctx.scale(1 + NEARER_HAND * Math.max(0, near), 1 + NEARER_HAND * Math.max(0, near));
  ctx.rotate(angle);
  ctx.fillStyle = PALETTE.skin;
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 4;
  const open = 1 - 0.8 * arm.grip;
  for (let i = 0; i < 4; i++) {
    const y = (i - 1.5) * 8;
    ctx.beginPath();
    ctx.moveTo(20, y);
    ctx.lineTo(20 + FINGER * open * (i === 0 || i === 3 ? 0.85 : 1), y * (1 + 0.2 * open));
    strokeOutlined(ctx, 11, 6);
  }
  // the thumb points away from the fingers' row, up the screen when the hand is level
  const thumb = 18 * (1 - 0.7 * arm.thumb);
  ctx.beginPath();
  ctx.moveTo(10, -12 * sx);
  ctx.lineTo(10 + thumb * 0.4, -12 * sx - thumb);
  strokeOutlined(ctx, 12, 7);
  ctx.beginPath();
  ctx.ellipse(10, 0, 19, 17, 0, 0, Math.PI * 2);
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.strokeStyle = PALETTE.outline;
  ctx.stroke();
  const box = canvasBox(ctx, [[-12, -36], [52, -36], [52, 36], [-12, 36]]); // palm, fingers and thumb
  ctx.restore();
  return box;
}

/** The canvas-pixel bounding box {left, top, right, bottom} of points in the current drawing frame. */
function canvasBox(ctx, points) {
  const m = ctx.getTransform();
  const xs = [];
  const ys = [];
  for (const [x, y] of points) {
    xs.push(m.a * x + m.c * y + m.e);
    ys.push(m.b * x + m.d * y + m.f);
  }
  return { left: Math.min(...xs), top: Math.min(...ys), right: Math.max(...xs), bottom: Math.max(...ys) };
}

function drawHead(ctx, s) {
  const { yaw, pitch } = s;
  const sy = Math.sin(yaw);

  // back hair (behind everything): shifts against the face for depth
  ctx.fillStyle = PALETTE.hairShade;
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 5;
  ctx.beginPath();
  ctx.moveTo(-R * 1.12 - sy * 14, -10);
  ctx.bezierCurveTo(-R * 1.25 - sy * 14, -R * 1.45, R * 1.25 - sy * 14, -R * 1.45, R * 1.12 - sy * 14, -10);
  ctx.bezierCurveTo(R * 1.18 - sy * 14, 60, R * 1.05, 110, R * 0.85, 118);
  ctx.lineTo(-R * 0.85, 118);
  ctx.bezierCurveTo(-R * 1.05, 110, -R * 1.18 - sy * 14, 60, -R * 1.12 - sy * 14, -10);
  ctx.closePath();
  ctx.fill();
  ctx.stroke();

  // ears: on the sphere's sides; the far one slips behind the head
  for (const side of [-1, 1]) {
    const e = project(side * 88, 6, yaw, pitch);
    if (e.z < -0.25) continue;
    const w = 16 * Math.max(0.35, Math.abs(Math.sin((side * 88) * DEG + yaw)));
    ctx.fillStyle = PALETTE.skin;
    ctx.beginPath();
    ctx.ellipse(e.x + side * 6, e.y, w, 24, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.stroke();
  }

  // face: a soft egg whose chin follows yaw and pitch
  const chin = project(0, 62, yaw, pitch);
  ctx.fillStyle = PALETTE.skin;
  ctx.beginPath();
  ctx.moveTo(-R, -5);
  ctx.bezierCurveTo(-R, -R * 1.35, R, -R * 1.35, R, -5);
  ctx.bezierCurveTo(R * 0.98, R * 0.55, chin.x + R * 0.45, chin.y + 8, chin.x, chin.y + 12);
  ctx.bezierCurveTo(chin.x - R * 0.45, chin.y + 8, -R * 0.98, R * 0.55, -R, -5);
  ctx.closePath();
  ctx.fill();
  ctx.stroke();

  // cheeks (blush), stronger with a smile
  ctx.save();
  ctx.globalAlpha = 0.28 + 0.4 * s.cheek;
  ctx.fillStyle = PALETTE.blush;
  for (const side of [-1, 1]) {
    const c = project(side * 40, 26, yaw, pitch);
    if (c.z < 0.15) continue;
    ctx.beginPath();
    ctx.ellipse(c.x, c.y, 19 * Math.max(0.3, c.z), 11, 0, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.restore();

  // eyes: screen-right is the avatar's left eye (ParamEyeL*)
  for (const side of [-1, 1]) {
    const left = side > 0;
    drawEye(ctx, project(side * 27, 8, yaw, pitch), {
      open: left ? s.eyeL : s.eyeR,
      smile: left ? s.smileL : s.smileR,
      ballX: s.ballX,
      ballY: s.ballY,
      squash: Math.max(0.25, Math.cos(side * 27 * DEG + yaw)),
      side,
    });
    drawBrow(ctx, project(side * 27, -14, yaw, pitch), left ? s.browL : s.browR, side, Math.max(0.3, Math.cos(side * 27 * DEG + yaw)));
  }

  // nose: a small soft hook
  const n = project(0, 24, yaw, pitch);
  ctx.strokeStyle = "#d99c86";
  ctx.lineWidth = 4;
  ctx.beginPath();
  ctx.moveTo(n.x - 3 + sy * 4, n.y - 6);
  ctx.quadraticCurveTo(n.x + sy * 9, n.y + 2, n.x - 4 * Math.sign(sy || 1), n.y + 5);
  ctx.stroke();

  drawMouth(ctx, project(0, 40, yaw, pitch), s.mouthOpen, s.mouthForm, Math.max(0.45, Math.cos(yaw)));

  // bangs in front of the forehead, shifted a little further than the face
  drawBangs(ctx, yaw, pitch);
}

function drawEye(ctx, c, { open, smile, ballX, ballY, squash, side }) {
  const rx = 21 * squash;
  const ry = 26;
  const o = Math.max(0, Math.min(1, open));
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 4.5;
  if (o < 0.14) {
    // closed: a happy arc (smiling) or a gentle lashed line
    ctx.beginPath();
    if (smile > 0.3) ctx.arc(c.x, c.y + 8, rx, Math.PI * 1.15, Math.PI * 1.85);
    else ctx.arc(c.x, c.y - 6, rx, Math.PI * 0.2, Math.PI * 0.8);
    ctx.stroke();
    return;
  }
  // lids close from the top: clip to an ellipse that shrinks towards the bottom edge
  const h = ry * o;
  const cy = c.y + ry - h;
  ctx.save();
  ctx.beginPath();
  ctx.ellipse(c.x, cy, rx, h, 0, 0, Math.PI * 2);
  ctx.clip();
  ctx.fillStyle = PALETTE.white;
  ctx.fillRect(c.x - rx - 2, c.y - ry - 2, rx * 2 + 4, ry * 2 + 4);
  // iris and pupil follow the eyeball parameters (+X right, +Y up)
  const ix = c.x + ballX * rx * 0.45;
  const iy = c.y - ballY * ry * 0.35 + 3;
  const grad = ctx.createLinearGradient(ix, iy - 18, ix, iy + 18);
  grad.addColorStop(0, PALETTE.irisDark);
  grad.addColorStop(1, PALETTE.iris);
  ctx.fillStyle = grad;
  ctx.beginPath();
  ctx.ellipse(ix, iy, 15 * squash, 18, 0, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = PALETTE.pupil;
  ctx.beginPath();
  ctx.ellipse(ix, iy + 1, 7.5 * squash, 9, 0, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = PALETTE.white;
  ctx.beginPath();
  ctx.arc(ix - 5 * squash, iy - 7, 5, 0, Math.PI * 2);
  ctx.fill();
  ctx.beginPath();
  ctx.arc(ix + 5 * squash, iy + 6, 2.2, 0, Math.PI * 2);
  ctx.fill();
  // smile pushes the lower lid up
  if (smile > 0.05) {
    ctx.fillStyle = PALETTE.skin;
    ctx.beginPath();
    ctx.ellipse(c.x, c.y + ry + 16 - smile * 18, rx * 1.4, 18, 0, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.restore();
  // upper lid line with a flick of lashes toward the outside
  ctx.beginPath();
  ctx.ellipse(c.x, cy, rx, h, 0, Math.PI * 1.08, Math.PI * 1.92);
  ctx.stroke();
  const end = { x: c.x + side * rx * 0.95, y: cy - h * 0.3 };
  ctx.beginPath();
  ctx.moveTo(end.x, end.y);
  ctx.lineTo(end.x + side * 7, end.y - 5);
  ctx.stroke();
}

function drawBrow(ctx, c, raise, side, squash) {
  const lift = -raise * 11;
  const w = 22 * squash;
  ctx.strokeStyle = PALETTE.hairShade;
  ctx.lineWidth = 6;
  ctx.beginPath();
  // inner end (toward the nose) lifts more than the outer end when raised
  ctx.moveTo(c.x - side * w, c.y + lift * 1.2 + 2);
  ctx.quadraticCurveTo(c.x, c.y + lift - 7, c.x + side * w, c.y + lift * 0.7);
  ctx.stroke();
}

function drawMouth(ctx, c, open, form, squash) {
  const o = Math.max(0, Math.min(1, open));
  const f = Math.max(-1, Math.min(1, form));
  const w = (34 + 8 * f) * squash;
  const curve = 9 * f; // + corners up
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 4.5;
  if (o < 0.06) {
    ctx.beginPath();
    ctx.moveTo(c.x - w / 2, c.y - curve);
    ctx.quadraticCurveTo(c.x, c.y + curve * 1.2, c.x + w / 2, c.y - curve);
    ctx.stroke();
    return;
  }
  const depth = 6 + o * 40;
  const outline = () => {
    ctx.beginPath();
    ctx.moveTo(c.x - w / 2, c.y - curve);
    ctx.quadraticCurveTo(c.x, c.y + curve * 0.8 - 2, c.x + w / 2, c.y - curve);
    ctx.quadraticCurveTo(c.x + w * 0.45, c.y + depth, c.x, c.y + depth);
    ctx.quadraticCurveTo(c.x - w * 0.45, c.y + depth, c.x - w / 2, c.y - curve);
    ctx.closePath();
  };
  ctx.fillStyle = PALETTE.mouth;
  outline();
  ctx.fill();
  ctx.save();
  ctx.clip();
  ctx.fillStyle = PALETTE.tongue;
  ctx.beginPath();
  ctx.ellipse(c.x, c.y + depth, w * 0.32, depth * 0.45, 0, 0, Math.PI * 2);
  ctx.fill();
  ctx.restore();
  outline(); // the tongue replaced the current path
  ctx.stroke();
}

function drawBangs(ctx, yaw, pitch) {
  const shift = Math.sin(yaw) * R * 0.32;
  const lift = -Math.sin(pitch) * 30;
  ctx.fillStyle = PALETTE.hair;
  ctx.strokeStyle = PALETTE.outline;
  ctx.lineWidth = 5;
  ctx.beginPath();
  ctx.moveTo(-R * 1.08, 10);
  ctx.bezierCurveTo(-R * 1.2, -R * 1.42, R * 1.2, -R * 1.42, R * 1.08, 10);
  // scalloped fringe across the forehead, right to left
  const tips = [0.95, 0.62, 0.28, -0.06, -0.4, -0.72, -1.0];
  let prev = { x: R * 1.08, y: 10 };
  for (let i = 0; i < tips.length; i++) {
    const tx = tips[i] * R + shift * (1 - Math.abs(tips[i]) * 0.5);
    const ty = -R * 0.28 + lift + (i % 2 ? 12 : 0) + Math.abs(tips[i]) * 20;
    const mx = (prev.x + tx) / 2;
    ctx.quadraticCurveTo(mx + 6, -R * 0.62 + lift * 0.6, tx, ty);
    prev = { x: tx, y: ty };
  }
  ctx.quadraticCurveTo(-R * 1.1, -R * 0.3, -R * 1.08, 10);
  ctx.closePath();
  ctx.fill();
  // a highlight (kept inside the hair) and a cowlick for charm
  ctx.save();
  ctx.clip();
  ctx.strokeStyle = PALETTE.hairLight;
  ctx.lineWidth = 8;
  ctx.beginPath();
  ctx.arc(shift * 0.5, -R * 0.3, R * 0.78, Math.PI * 1.22, Math.PI * 1.42);
  ctx.stroke();
  ctx.restore();
  ctx.stroke();
  ctx.strokeStyle = PALETTE.outline;
  ctx.fillStyle = PALETTE.hair;
  ctx.lineWidth = 5;
  ctx.beginPath();
  const top = { x: shift * 0.4 + 8, y: -R * 1.02 };
  ctx.moveTo(top.x - 8, top.y + 4);
  ctx.quadraticCurveTo(top.x - 6, top.y - 40, top.x + 30, top.y - 38);
  ctx.quadraticCurveTo(top.x + 4, top.y - 26, top.x + 8, top.y + 4);
  ctx.fill();
  ctx.stroke();
}

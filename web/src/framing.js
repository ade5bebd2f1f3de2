// Framing of the 3D avatar: which slice of it the camera shows and where the
// camera looks, so that the avatar never leaves the picture. Pure (time is
// passed in), so node tests check it; avatar-vrm.js places the camera.
//
// - "upper": from a little below the chest to above the head (a webcam's bust);
// - "full": from below the feet to above the head;
// - "auto" (the default): full while the rig follows a leg (the motion's
//   parts: a thigh and its shin at weight LEG_FOLLOWED or more), upper once no
//   leg has been followed for UPPER_AFTER_MS, so a leg at the picture's edge
//   does not switch the framing back and forth.
//
// The camera keeps still while the framed part moves a little (a lean, a
// step: seen as such) and follows it past a dead zone (a walk across the
// room); up and down it follows the framed part (a crouch in the upper
// framing, a jump in the full one); either way never further behind it than
// that dead zone.
// Every change eases over EASE_MS, so a switch of framing or the start of a
// walk never makes the picture jump.
import { clamp } from "./quat.js";

export const LEG_FOLLOWED = 0.5;
export const UPPER_AFTER_MS = 2000;
export const EASE_MS = 250;
const DEAD_ZONE = 0.1; // of the framed height: how far the framed part may drift sideways or in depth
// Margins, in metres for a model whose head stands 1.4 m up (scaled to the model's own height).
const NOMINAL_HEAD = 1.4;
const UPPER = { belowChest: 0.28, aboveHead: 0.36 }; // the head bone sits at the skull's base
const FULL = { belowFeet: 0.15, aboveHead: 0.3, aboveMesh: 0.05 };

const mid = (a, b) => a.map((v, i) => (v + b[i]) / 2);

/** Some leg is followed: a thigh and its shin at LEG_FOLLOWED or more. */
export function legsFollowed(parts) {
  return ["left", "right"].some(
    (side) => (parts?.[`${side}UpperLeg`] ?? 0) >= LEG_FOLLOWED && (parts?.[`${side}LowerLeg`] ?? 0) >= LEG_FOLLOWED);
}

export class Framing {
  /**
   * @param {string} option "upper", "full" or "auto" (options.js's framing row; anything else: auto)
   * @param {object} rest the avatar at rest, world metres (+y up, facing +z): {head, chest, hips} as
   *   [x, y, z], floor (the lowest of its feet's joints' heights, or 0) and top (the highest point of its
   *   mesh, or null)
   */
  constructor(option, rest) {
    this.setOption(option);
    this.rest = rest;
    this.kind = this.option === "full" ? "full" : "upper";
    this.legsAt = -Infinity;
    this.target = null; // where the camera is going: the framed part's centre, held within the dead zone
    this.aim = null; // where it looks now: {centre, height}, eased toward the target
    this.switching = false; // easing from one framing to the other
    this.lastMs = null;
  }

  /** The page's choice (the settings panel may change it at any time): "upper", "full", else auto. */
  setOption(option) {
    this.option = option === "upper" || option === "full" ? option : "auto";
  }

  /** The slice shown now, "upper" or "full", from the option and (auto) the parts followed. */
  choose(parts, nowMs) {
    if (this.option !== "auto") return this.option;
    if (legsFollowed(parts)) {
      this.legsAt = nowMs;
      return "full";
    }
    return this.kind === "full" && nowMs - this.legsAt < UPPER_AFTER_MS ? "full" : "upper";
  }

  /** The framed part now: {centre, height} from the avatar's joints (world metres). */
  box(kind, joints) {
    const rest = this.rest;
    const k = rest.head[1] / NOMINAL_HEAD;
    if (kind === "full") {
      const top = Math.max(rest.head[1] + FULL.aboveHead * k, (rest.top ?? -Infinity) + FULL.aboveMesh * k);
      const bottom = (rest.floor ?? 0) - FULL.belowFeet * k;
      const jump = Math.max(0, joints.hips[1] - rest.hips[1]); // a crouch keeps the feet in the frame as it is
      return { centre: [joints.hips[0], (top + bottom) / 2 + jump, joints.hips[2]], height: top - bottom };
    }
    const top = rest.head[1] + UPPER.aboveHead * k;
    const bottom = rest.chest[1] - UPPER.belowChest * k;
    const now = mid(joints.chest, joints.head);
    const offset = (top + bottom) / 2 - mid(rest.chest, rest.head)[1];
    return { centre: [now[0], now[1] + offset, now[2]], height: top - bottom };
  }

  /**
   * One display frame: where the camera looks, {centre, height, kind}.
   * @param {object} parts the motion's parts (each part's weight)
   * @param {object} joints {head, chest, hips} now, world metres
   */
  update(parts, joints, nowMs) {
    const kind = this.choose(parts, nowMs);
    const box = this.box(kind, joints);
    const switched = kind !== this.kind;
    this.kind = kind;
    if (this.target === null || switched) {
      this.target = [...box.centre];
    } else {
      const zone = DEAD_ZONE * box.height;
      this.target = box.centre.map((c, i) => (i === 1 ? c : clamp(this.target[i], c - zone, c + zone)));
    }
    if (this.aim === null) {
      this.aim = { centre: [...this.target], height: box.height };
    } else {
      const a = 1 - Math.exp(-Math.max(0, nowMs - this.lastMs) / EASE_MS);
      const zone = DEAD_ZONE * box.height;
      const eased = this.aim.centre.map((v, i) => v + a * (this.target[i] - v));
      // a switch of framing eases all the way; otherwise the camera is never further behind the framed
      // part than the dead zone (a walk or a jump does not outrun it)
      this.switching = switched || (this.switching && eased.some((v, i) => Math.abs(v - box.centre[i]) > zone));
      this.aim = {
        centre: this.switching ? eased : eased.map((v, i) => clamp(v, box.centre[i] - zone, box.centre[i] + zone)),
        height: this.aim.height + a * (box.height - this.aim.height),
      };
    }
    this.lastMs = nowMs;
    return { ...this.aim, kind };
  }
}

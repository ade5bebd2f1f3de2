// The avatar on screen. show(options) tries the registry's plan (avatars.js) in
// order and keeps the first avatar that loads; each failure becomes the note,
// so the page says why it shows a fallback. Each avatar gets a canvas of its
// own: the one shown keeps drawing while the next loads (a WebGL canvas
// cannot be shared by two renderers), and a newer choice wins over a load
// still under way.
import { plan } from "./avatars.js";
import { BuiltinAvatar } from "./avatar-builtin.js";

export class Stage {
  /**
   * @param {HTMLElement} container where the avatar canvases go
   * @param {(text: string) => void} onNote the avatar's line of the note ("" for none)
   */
  constructor(container, onNote) {
    this.container = container;
    this.onNote = onNote;
    this.view = { x: 0, y: 0, scale: 1, framing: "auto" };
    this.size = { width: 1, height: 1, dpr: 1 };
    this.generation = 0;
    this.avatar = new BuiltinAvatar(this.canvas("builtin")); // the page is never blank
    this.avatar.canvas.hidden = false;
  }

  /** A new, hidden avatar canvas; it takes its kind's id once shown (tests and CSS use #vrm etc.). */
  canvas(id) {
    const canvas = document.createElement("canvas");
    canvas.className = "avatar";
    canvas.hidden = true;
    canvas.dataset.kind = id;
    canvas.setAttribute("aria-label", `${id} avatar`);
    if (!this.container.querySelector(`#${id}`)) canvas.id = id;
    this.container.append(canvas);
    return canvas;
  }

  get kind() {
    return this.avatar.kind;
  }

  async show(options) {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const failures = [];
    for (const step of plan(options)) {
      if (step.kind.kind === "builtin") break;
      this.onNote(`Loading ${step.label} …`);
      const canvas = this.canvas(step.kind.canvas);
      try {
        const avatar = await step.kind.create(canvas, step.target, options);
        if (!current()) {
          avatar.destroy();
          canvas.remove();
          return;
        }
        this.replace(avatar, canvas);
        this.onNote(failures.length ? `${failures.join("; ")} — showing ${step.label}` : "");
        return;
      } catch (err) {
        canvas.remove();
        if (!current()) return;
        const why = err?.message || String(err);
        console.warn(`${step.label} failed:`, err);
        failures.push(/could not be loaded/.test(why) ? why : `${step.label} could not be loaded (${why})`);
      }
    }
    if (!current()) return;
    if (this.avatar.kind !== "builtin") {
      const canvas = this.canvas("builtin");
      this.replace(new BuiltinAvatar(canvas), canvas);
    }
    // a note only for a choice that failed: the built-in avatar by default needs none
    this.onNote(failures.length ? `${failures.join("; ")} — showing the built-in avatar` : "");
  }

  replace(avatar, canvas) {
    const old = this.avatar;
    old.destroy();
    old.canvas?.remove();
    this.avatar = avatar;
    avatar.canvas ??= canvas;
    canvas.id = canvas.dataset.kind;
    canvas.hidden = false;
    this.resize();
    avatar.setView(this.view);
  }

  resize(width = this.size.width, height = this.size.height, dpr = this.size.dpr) {
    this.size = { width, height, dpr };
    this.avatar.resize(width, height, dpr);
  }

  setView(changes = {}) {
    Object.assign(this.view, changes);
    this.avatar.setView(this.view);
  }

  resetView() {
    this.setView({ x: 0, y: 0, scale: 1 });
  }
}

// The note: a line for each thing the person should know about (an avatar that
// failed to load, a stream that is not live, a gateway newer than the page),
// each set and cleared by its own source. Nothing to say: no note at all.
export class Notes {
  constructor(el) {
    this.el = el;
    this.lines = new Map(); // source -> text, in the order they first spoke
  }

  set(source, text) {
    if ((this.lines.get(source) ?? "") === text) return;
    if (text) this.lines.set(source, text);
    else this.lines.delete(source);
    this.el.replaceChildren(
      ...[...this.lines.values()].map((line) => {
        const div = document.createElement("div");
        div.textContent = line;
        return div;
      }),
    );
    this.el.hidden = this.lines.size === 0;
  }

  get(source) {
    return this.lines.get(source) ?? "";
  }

  /** Every line, as one string (window.__live2dPose.note). */
  get text() {
    return [...this.lines.values()].join("\n");
  }
}

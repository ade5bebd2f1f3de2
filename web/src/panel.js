// The settings panel: a control for each row of the options table (options.js),
// the URL to paste into OBS for exactly this look, and the live streams. It only
// shows and asks: main.js applies, remembers and writes the URL. Never built in
// OBS mode.
import { OPTIONS, cssColor } from "./options.js";

const STREAMS_EVERY_MS = 2000; // the stream list's refresh while the panel is open
const LATEST = "";

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
};

// One control per type: make(row, panel) -> {node, input, show(value)}; the input's
// "change" gives read(input) -> the value, or undefined when it is not one.
const CONTROLS = {
  flag: {
    make: (row) => {
      const input = el("input", { type: "checkbox" });
      return { node: el("label", { className: "row flag" }, input, el("span", { textContent: row.label })), input };
    },
    show: (input, value) => {
      input.checked = value;
    },
    read: (input) => input.checked,
  },
  choice: {
    make: (row) => {
      const input = el(
        "select",
        {},
        ...Object.entries(row.choices).map(([value, text]) => el("option", { value, textContent: text })),
      );
      return { node: labelled(row, input), input };
    },
    show: (input, value) => {
      input.value = value;
    },
    read: (input) => input.value,
  },
  text: {
    make: (row, panel) => {
      const input = el("input", { type: "text", spellcheck: false, placeholder: "none" });
      const node = labelled(row, input);
      if (row.file) node.append(panel.fileButton(row));
      return { node, input };
    },
    show: (input, value) => {
      input.value = value;
    },
    read: (input) => input.value.trim(),
  },
  color: {
    make: (row) => {
      const input = el("input", { type: "text", spellcheck: false, placeholder: "transparent" });
      return { node: labelled(row, input), input };
    },
    show: (input, value) => {
      input.value = value.replace(/^#/, "");
    },
    read: (input) => (input.value.trim() === "" ? "" : cssColor(input.value) || undefined),
  },
  stream: {
    make: (row, panel) => {
      const input = el("select");
      const node = labelled(row, input);
      panel.streamStatus = el("p", { className: "status stream-status", hidden: true });
      node.append(panel.streamStatus);
      return { node, input };
    },
    show: (input, value, panel) => panel.fillStreams(input, value),
    read: (input) => input.value,
  },
};

function labelled(row, input) {
  return el("label", { className: "row" }, el("span", { textContent: row.label }), input);
}

export class Panel {
  /**
   * @param {HTMLElement} root the panel's element (hidden until opened)
   * @param {object} hooks get() -> the current options; set(name, value); openFile(File);
   *   dropped() -> the name of the file shown instead of the model, or null;
   *   obsUrl() -> the URL for OBS; streams() -> Promise<live stream names | null>
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.live = null; // the gateway's live streams, once read
    this.controls = {};
    this.timer = null;
    this.build();
  }

  build() {
    const close = el("button", { type: "button", className: "close", textContent: "×", title: "Close (Esc)" });
    close.addEventListener("click", () => this.close());
    const rows = OPTIONS.filter((row) => row.panel !== false).map((row) => {
      const type = CONTROLS[row.type];
      const control = type.make(row, this);
      control.input.name = row.name;
      control.input.addEventListener("change", () => {
        const value = type.read(control.input);
        control.input.toggleAttribute("aria-invalid", value === undefined);
        if (value !== undefined) this.hooks.set(row.name, value);
      });
      this.controls[row.name] = { ...control, type };
      return control.node;
    });
    this.url = el("input", { type: "text", readOnly: true, className: "obs-url", spellcheck: false });
    this.url.addEventListener("focus", () => this.url.select());
    const copy = el("button", { type: "button", textContent: "Copy" });
    copy.addEventListener("click", () => this.copyUrl(copy));
    this.urlHint = el("p", { className: "hint" });
    this.root.replaceChildren(
      el("header", {}, el("h2", { textContent: "Settings" }), close),
      el("div", { className: "rows" }, ...rows),
      el("p", {
        className: "hint",
        textContent:
          "Smoothing is the gateway's: it smooths the motion once for every output (this page, OBS, VSeeFace, VTube Studio), so they all move alike.",
      }),
      el(
        "section",
        { className: "obs" },
        el("h3", { textContent: "URL for OBS: exactly this look" }),
        el("div", { className: "url-row" }, this.url, copy),
        this.urlHint,
      ),
    );
    this.root.setAttribute("role", "dialog");
    this.root.setAttribute("aria-label", "Settings");
    this.root.addEventListener("keydown", (ev) => ev.stopPropagation()); // typing is not a page key
    this.root.addEventListener("keydown", (ev) => ev.key === "Escape" && this.close());
  }

  /** "Open a .vrm file…": the same way in as dropping one onto the page. */
  fileButton(row) {
    const input = el("input", { type: "file", accept: row.file, hidden: true, className: "file" });
    input.addEventListener("change", () => {
      if (input.files?.[0]) this.hooks.openFile(input.files[0]);
      input.value = "";
    });
    const button = el("button", { type: "button", textContent: `Open a ${row.file} file…` });
    button.addEventListener("click", () => input.click());
    this.droppedLine = el("p", { className: "status dropped", hidden: true });
    return el(
      "span",
      { className: "file-row" },
      button,
      input,
      el("span", { className: "hint", textContent: " or drop it onto the page" }),
      this.droppedLine,
    );
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open() {
    this.root.hidden = false;
    this.refresh();
    this.pollStreams();
    this.root.querySelector("select, input")?.focus();
  }

  close() {
    if (this.root.contains(document.activeElement)) document.activeElement.blur(); // keys are the page's again
    this.root.hidden = true;
    clearTimeout(this.timer);
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  async pollStreams() {
    clearTimeout(this.timer);
    if (!this.isOpen) return;
    const live = await this.hooks.streams();
    if (live) this.live = live;
    this.refresh();
    if (this.isOpen) this.timer = setTimeout(() => this.pollStreams(), STREAMS_EVERY_MS);
  }

  /** Show the current options, the stream's status and the OBS URL. */
  refresh() {
    if (!this.isOpen) return;
    const opts = this.hooks.get();
    for (const [name, { input, type }] of Object.entries(this.controls)) {
      if (document.activeElement !== input || type === CONTROLS.stream) type.show(input, opts[name], this);
    }
    const dropped = this.hooks.dropped();
    if (this.droppedLine) {
      this.droppedLine.hidden = !dropped;
      this.droppedLine.textContent = dropped ? `Showing ${dropped} (dropped: this tab only)` : "";
    }
    this.url.value = this.hooks.obsUrl();
    this.urlHint.textContent =
      (dropped
        ? `A dropped file is not part of a URL: for OBS, let the gateway serve it: make run ARGS="--model ./${dropped}". `
        : "") +
      `In OBS: Sources → + → Browser, paste the URL, and set Width × Height to your scene's (this window is ${innerWidth} × ${innerHeight}).`;
  }

  setStreamStatus(text) {
    if (!this.streamStatus) return;
    this.streamStatus.textContent = text;
    this.streamStatus.hidden = !text;
  }

  /** The stream choices: the latest camera, each live stream, and the one asked for if it is not live. */
  fillStreams(select, wanted) {
    const live = this.live ?? [];
    const entries = [[LATEST, "the camera that started last"], ...live.map((s) => [s, s])];
    if (wanted && !live.includes(wanted)) entries.push([wanted, `${wanted} (not live)`]);
    const same =
      select.options.length === entries.length &&
      entries.every(([value, text], i) => select.options[i].value === value && select.options[i].textContent === text);
    if (!same) select.replaceChildren(...entries.map(([value, text]) => el("option", { value, textContent: text })));
    select.value = wanted;
  }

  async copyUrl(button) {
    this.url.select();
    try {
      await navigator.clipboard.writeText(this.url.value);
    } catch {
      document.execCommand?.("copy"); // no clipboard API on a plain-http page other than localhost
    }
    button.textContent = "Copied";
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  }
}

// What a person does to the page: keys, drag to move the avatar, the wheel to
// zoom, double-click to reset, a file dropped onto the page; and the settings
// button, which shows only while the mouse moves (never in OBS: main.js does
// not make it there).

const TOOLBAR_IDLE_MS = 2500;

/**
 * @param {object} stage the Stage (its view is moved and zoomed)
 * @param {object} hooks keys: {key: () => void}; drop(File); ui: elements whose own events
 *   are not the page's (the panel, the toolbar); toolbar: the settings button's bar, or null
 */
export function installControls(stage, { keys, drop, ui = [], toolbar = null }) {
  const inUi = (ev) => ui.some((node) => node?.contains(ev.target));

  window.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || inUi(ev)) return;
    const action = keys[ev.key];
    if (!action) return;
    ev.preventDefault();
    action();
  });

  // Drag to move, wheel to zoom, double-click to reset.
  let drag = null;
  window.addEventListener("pointerdown", (ev) => {
    if (inUi(ev)) return;
    drag = { x: ev.clientX - stage.view.x, y: ev.clientY - stage.view.y };
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    stage.setView({ x: ev.clientX - drag.x, y: ev.clientY - drag.y });
  });
  window.addEventListener("pointerup", () => {
    drag = null;
  });
  window.addEventListener(
    "wheel",
    (ev) => {
      if (inUi(ev)) return;
      ev.preventDefault();
      stage.setView({ scale: Math.min(5, Math.max(0.2, stage.view.scale * Math.exp(-ev.deltaY * 0.0015))) });
    },
    { passive: false },
  );
  window.addEventListener("dblclick", (ev) => {
    if (!inUi(ev)) stage.resetView();
  });

  // A file dropped anywhere on the page.
  window.addEventListener("dragover", (ev) => {
    if (!ev.dataTransfer?.types?.includes("Files")) return;
    ev.preventDefault(); // without it the browser would open the file instead
    ev.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", (ev) => {
    const file = ev.dataTransfer?.files?.[0];
    if (!file) return;
    ev.preventDefault();
    drop(file);
  });

  if (toolbar) showWhileTheMouseMoves(toolbar);
}

/** The toolbar fades out when the mouse rests, and back in when it moves (or a key focuses it). */
function showWhileTheMouseMoves(toolbar) {
  let timer = null;
  toolbar.classList.add("idle");
  window.addEventListener("pointermove", () => {
    toolbar.classList.remove("idle");
    clearTimeout(timer);
    timer = setTimeout(() => toolbar.classList.add("idle"), TOOLBAR_IDLE_MS);
  });
}

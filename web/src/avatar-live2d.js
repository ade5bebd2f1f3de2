// A Live2D Cubism 4 model via pixi-live2d-display (PixiJS 6).
//
// main.js imports this module dynamically, and only after Cubism Core is on
// the page: pixi-live2d-display/cubism4 looks for the global
// Live2DCubismCore when it is evaluated. PixiJS comes with it, so the
// built-in-avatar path never downloads either.
import * as PIXI from "pixi.js";
import { Live2DModel } from "pixi-live2d-display/cubism4";
import { armPose, findArmParams, armParamValues } from "./retarget-live2d.js";
import { withTimeout } from "./timeout.js";

// pixi-live2d-display updates models from a ticker it is given.
Live2DModel.registerTicker(PIXI.Ticker);

export async function createLive2DAvatar(canvas, modelUrl, { loadTimeoutMs = 20000 } = {}) {
  const app = new PIXI.Application({
    view: canvas,
    backgroundAlpha: 0, // transparent for OBS
    antialias: true,
    autoDensity: true,
    resolution: window.devicePixelRatio || 1,
    width: canvas.clientWidth || window.innerWidth,
    height: canvas.clientHeight || window.innerHeight,
  });
  let model;
  try {
    model = await withTimeout(
      Live2DModel.from(modelUrl, { autoInteract: false }),
      loadTimeoutMs,
      "model load timed out",
    );
  } catch (err) {
    app.destroy(false);
    throw err;
  }
  app.stage.addChild(model);
  model.anchor.set(0.5, 0.5);
  return new Live2DAvatar(app, model);
}

class Live2DAvatar {
  constructor(app, model) {
    this.kind = "live2d";
    this.app = app;
    this.model = model;
    this.params = {};
    this.view = { x: 0, y: 0, scale: 1 };
    this.tracking = false;
    const internal = model.internalModel;
    const core = internal.coreModel;
    // Only drive parameters this model has; others are silently skipped.
    this.ids = new Set();
    const parameters = core._model?.parameters;
    for (const id of parameters?.ids ?? core._parameterIds ?? []) this.ids.add(id);
    // Arm and hand parameters are named differently by each model: look them
    // up by id, with their ranges, instead of assuming them.
    this.ranges = {};
    (parameters?.ids ?? []).forEach((id, i) => {
      this.ranges[id] = { min: parameters.minimumValues[i], max: parameters.maximumValues[i] };
    });
    this.armParams = findArmParams([...this.ids]);
    this.idleBlink = internal.eyeBlink;
    // Set our values after the motion update and before saveParameters(), so
    // physics (hair sway) and pose see them in the same frame and idle motions
    // do not override tracked channels.
    internal.on("afterMotionUpdate", () => {
      if (!this.tracking) return;
      for (const [id, v] of Object.entries(this.params)) {
        if (this.ids.size === 0 || this.ids.has(id)) core.setParameterValueById(id, v);
      }
    });
    this.fit();
  }

  /** One animation frame: the motion's Live2D parameters, plus the arms from its state. */
  update({ params, state, tracking }) {
    const arms =
      state && Object.keys(this.armParams).length ? armParamValues(armPose(state), this.armParams, this.ranges) : {};
    this.setParams({ ...params, ...arms }, tracking);
  }

  snapshot() {
    return { params: { ...this.params }, armParams: this.armParams };
  }

  setParams(params, tracking = true) {
    this.params = params;
    if (tracking !== this.tracking) {
      this.tracking = tracking;
      // The model's own blink would fight the tracked eyelids; keep it for idle.
      this.model.internalModel.eyeBlink = tracking ? undefined : this.idleBlink;
    }
  }

  setView(view) {
    this.view = view;
    this.fit();
  }

  resize(width, height) {
    this.app.renderer.resize(width, height);
    this.fit();
  }

  fit() {
    const { width, height } = this.app.renderer.screen;
    // Size from the model's unscaled bounds so zoom does not compound.
    const base = Math.min(
      (height * 0.95) / this.model.internalModel.height,
      (width * 0.95) / this.model.internalModel.width,
    );
    this.model.scale.set(base * this.view.scale);
    this.model.position.set(width / 2 + this.view.x, height / 2 + this.view.y);
  }

  render() {
    // PixiJS renders on its own ticker.
  }

  destroy() {
    this.app.destroy(false, { children: true });
  }
}

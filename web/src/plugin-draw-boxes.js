// jsPsych 8 plugin: the participant drags boxes around the regions of an image that made them remember it.
// Boxes come back as [x0, y0, x1, y1] fractions of the image's width and height (0 = left / top edge),
// rounded to 4 decimals, the coordinates vms_zoo.human.annotations reads.
import { ParameterType } from "jspsych";

const info = {
  name: "draw-boxes",
  version: "1.0.0",
  parameters: {
    image: { type: ParameterType.IMAGE, default: undefined },
    prompt: {
      type: ParameterType.HTML_STRING,
      default: "<p>Draw a box around <b>each region that made you remember this image</b>: press the mouse " +
        "button at one corner and release it at the opposite corner. Then press <b>Done</b>.</p>",
    },
    min_boxes: { type: ParameterType.INT, default: 1 },
    max_boxes: { type: ParameterType.INT, default: 10 },
    // smallest box side, as a fraction of the image: a click without a drag draws nothing
    min_size: { type: ParameterType.FLOAT, default: 0.01 },
  },
  data: {
    boxes: { type: ParameterType.COMPLEX },
    rt: { type: ParameterType.INT },
  },
};

const round4 = (v) => Math.round(v * 1e4) / 1e4;
const clamp01 = (v) => Math.min(1, Math.max(0, v));

class DrawBoxesPlugin {
  static info = info;

  constructor(jsPsych) {
    this.jsPsych = jsPsych;
  }

  trial(display_element, trial) {
    const start = performance.now();
    const boxes = [];
    display_element.innerHTML = `
      <div class="boxes-prompt">${trial.prompt}</div>
      <div class="boxes-stage" id="boxes-stage">
        <img class="boxes-image" src="${trial.image}" draggable="false" alt="">
        <div class="boxes-layer" id="boxes-layer"></div>
      </div>
      <div class="boxes-controls">
        <button class="jspsych-btn" id="boxes-undo" disabled>Undo last box</button>
        <button class="jspsych-btn" id="boxes-done" disabled>Done</button>
        <span class="boxes-count" id="boxes-count"></span>
      </div>`;
    const layer = display_element.querySelector("#boxes-layer");
    const undo = display_element.querySelector("#boxes-undo");
    const done = display_element.querySelector("#boxes-done");
    const count = display_element.querySelector("#boxes-count");
    let drag = null;

    const point = (e) => {
      const r = layer.getBoundingClientRect();
      return [clamp01((e.clientX - r.left) / r.width), clamp01((e.clientY - r.top) / r.height)];
    };
    const place = (el, [x0, y0, x1, y1]) => {
      Object.assign(el.style, { left: `${x0 * 100}%`, top: `${y0 * 100}%`,
        width: `${(x1 - x0) * 100}%`, height: `${(y1 - y0) * 100}%` });
    };
    const corners = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]),
      Math.max(a[1], b[1])].map(round4);
    const refresh = () => {
      undo.disabled = boxes.length === 0;
      done.disabled = boxes.length < trial.min_boxes;
      count.textContent = `${boxes.length} box${boxes.length === 1 ? "" : "es"}` +
        (boxes.length >= trial.max_boxes ? " (the most allowed)" : "");
      document.body.dataset.boxes = String(boxes.length);
    };

    layer.addEventListener("pointerdown", (e) => {
      if (boxes.length >= trial.max_boxes || e.button !== 0) return;
      e.preventDefault();
      layer.setPointerCapture(e.pointerId);
      const el = document.createElement("div");
      el.className = "box drawing";
      layer.appendChild(el);
      drag = { from: point(e), el };
      place(el, corners(drag.from, drag.from));
    });
    layer.addEventListener("pointermove", (e) => {
      if (drag) place(drag.el, corners(drag.from, point(e)));
    });
    const release = (e) => {
      if (!drag) return;
      const box = corners(drag.from, point(e));
      if (box[2] - box[0] >= trial.min_size && box[3] - box[1] >= trial.min_size) {
        drag.el.className = "box";
        place(drag.el, box);
        boxes.push(box);
      } else {
        drag.el.remove();
      }
      drag = null;
      refresh();
    };
    layer.addEventListener("pointerup", release);
    layer.addEventListener("pointercancel", () => { if (drag) { drag.el.remove(); drag = null; } });
    undo.addEventListener("click", () => {
      boxes.pop();
      const drawn = layer.querySelectorAll(".box:not(.drawing)");
      if (drawn.length) drawn[drawn.length - 1].remove();
      refresh();
    });
    done.addEventListener("click", () => {
      if (boxes.length < trial.min_boxes) return;
      display_element.innerHTML = "";
      this.jsPsych.finishTrial({ boxes: boxes.slice(), rt: Math.round(performance.now() - start) });
    });
    refresh();
  }
}

export default DrawBoxesPlugin;

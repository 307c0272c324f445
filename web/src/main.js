// The repeat-recognition experiment (W-MEMGAN paper, Fig. 11): consent and instructions, a stream of images
// (a key press when one repeats), boxes after every "seen" response, then a completion code. Every trial is
// posted as it is answered (outbox.js); a reload resumes at the next unanswered trial.
import { initJsPsych } from "jspsych";
import HtmlButtonResponsePlugin from "@jspsych/plugin-html-button-response";
import ImageKeyboardResponsePlugin from "@jspsych/plugin-image-keyboard-response";
import DrawBoxesPlugin from "./plugin-draw-boxes.js";
import { Outbox } from "./outbox.js";

const root = document.getElementById("experiment");
const params = new URLSearchParams(window.location.search);
const participant = params.get("PROLIFIC_PID") || params.get("participant");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The current screen and trial, for people reading the page and for the scripted-browser tests.
function screen(name, position) {
  document.body.dataset.screen = name;
  if (position === undefined) delete document.body.dataset.position;
  else document.body.dataset.position = String(position);
}

function message(name, html) {
  screen(name);
  root.innerHTML = `<div class="message">${html}</div>`;
}

function banner({ online, pending }) {
  const el = document.getElementById("connection");
  el.hidden = online;
  el.textContent = `Connection lost: ${pending} answer${pending === 1 ? " is" : "s are"} kept in this ` +
    "browser and will be sent when it returns. You can carry on.";
  document.body.dataset.online = String(online);
}

// JSON from the API, retrying while the server can't be reached (a restart, a network drop).
async function call(path, body) {
  for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
    try {
      const res = await fetch(path, body === undefined ? { cache: "no-store" } : {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (res.status < 500) return { status: res.status, json: await res.json() };
    } catch (e) { /* retry below */ }
    banner({ online: false, pending: 0 });
    await sleep(wait);
  }
}

async function phase(timeline) {
  root.innerHTML = "";
  const jsPsych = initJsPsych({ display_element: root });
  await jsPsych.run(timeline);
  return jsPsych;
}

const button = (name, stimulus, choices) => ({
  type: HtmlButtonResponsePlugin, stimulus, choices, on_load: () => screen(name),
});

const CONSENT = `<div class="text"><h2>Memory for scenes: consent</h2>
  <p>You will see a sequence of pictures, one after another, and press a key when a picture repeats. When you
  recognise one, you will draw boxes around the parts that made you remember it. It takes about 10 minutes.</p>
  <p>We store your answers, your boxes and your participant id, nothing else. Taking part is voluntary: you
  may stop at any time by closing this page.</p><p>Do you agree to take part?</p></div>`;

const instructions = (s) => `<div class="text"><h2>Instructions</h2>
  <p>Pictures appear one at a time, each for ${s.display_ms / 1000} seconds. Some of them will appear a
  second time.</p>
  <p><b>Press the SPACE BAR as soon as you see a picture that you have already seen</b> in this sequence.</p>
  <p>Each time you press it, the picture stays on screen and you draw a box around each region that made you
  remember it (press the mouse button at one corner, release it at the opposite corner), then press Done.</p>
  <p>There are ${s.n_trials} pictures. If the page reloads, you continue where you left off.</p></div>`;

async function preload(urls) {
  let done = 0;
  await Promise.all(urls.map((url) => new Promise((resolve) => {
    const img = new Image();
    img.onload = img.onerror = () => {
      done += 1;
      message("loading", `<p>Loading pictures: ${done} of ${urls.length}</p>`);
      resolve();
    };
    img.src = url;
  })));
}

async function main() {
  if (!participant) {
    message("no-id", "<p>This link has no participant id. Please open the study through the link you were " +
      "given (it ends in <code>?PROLIFIC_PID=...</code> or <code>?participant=...</code>).</p>");
    return;
  }
  const tokenKey = `vms-zoo:${participant}:token`;
  const outboxKey = `vms-zoo:${participant}:outbox`;
  const state = await call(`api/participant/${encodeURIComponent(participant)}`);
  if (state.status !== 200) return message("error", `<p>${escape(state.json.error)}</p>`);
  if (state.json.status === "new") {
    // a token or unsent answers left from another study database under this id are not this study's
    localStorage.removeItem(tokenKey);
    localStorage.removeItem(outboxKey);
    const jsPsych = await phase([button("consent", CONSENT, ["I agree", "I do not agree"])]);
    if (jsPsych.data.get().last(1).values()[0].response !== 0) {
      return message("declined", "<p>You chose not to take part. Nothing was stored. You can close this page.</p>");
    }
  }
  const started = await call("api/start", { participant, token: localStorage.getItem(tokenKey) || undefined });
  if (started.status !== 200) return message("error", `<p>${escape(started.json.error)}</p>`);
  const s = started.json;
  localStorage.setItem(tokenKey, s.token);
  const outbox = new Outbox(outboxKey, banner);
  outbox.flush();
  const next = Math.max(s.next, outbox.lastPosition() + 1);

  if (next < s.n_trials) {
    await preload(s.images.slice(next));
    const intro = next === 0 ? instructions(s) : `<div class="text"><h2>Welcome back</h2><p>You have seen ` +
      `${next} of ${s.n_trials} pictures. The sequence continues where you left off.</p>` +
      "<p>Press the SPACE BAR when a picture repeats.</p></div>";
    const timeline = [button(next === 0 ? "instructions" : "resume", intro, ["Start"])];
    const record = (position, response, rt, boxes) => outbox.push({
      participant, token: s.token, position, response, rt_ms: rt === null ? null : Math.round(rt), boxes });
    for (let position = next; position < s.n_trials; position += 1) {
      let rt = null;
      timeline.push({
        type: ImageKeyboardResponsePlugin,
        stimulus: s.images[position],
        choices: [" "],
        trial_duration: s.display_ms,
        response_ends_trial: true,
        post_trial_gap: s.blank_ms,
        prompt: '<p class="hint">SPACE = I have seen this picture before</p>',
        data: { position },
        on_load: () => screen("stream", position),
        on_finish: (data) => {
          rt = data.rt;
          if (rt === null) record(position, 0, null, []);
        },
      });
      timeline.push({
        conditional_function: () => rt !== null,
        timeline: [{
          type: DrawBoxesPlugin,
          image: s.images[position],
          min_boxes: s.min_boxes,
          max_boxes: s.max_boxes,
          data: { position },
          on_load: () => screen("boxes", position),
          on_finish: (data) => record(position, 1, rt, data.boxes),
        }],
      });
    }
    await phase(timeline);
  }

  message("saving", "<p>Saving your answers...</p>");
  await outbox.drained();
  const end = await call("api/start", { participant, token: s.token });
  if (end.status !== 200 || !end.json.finished) {
    const why = outbox.rejected.map((r) => escape(r.error)).join("<br>") || escape(end.json.error || "");
    return message("error", `<p>Some answers could not be saved. Please contact the researcher.</p><p>${why}</p>`);
  }
  const link = end.json.completion_url ?
    `<p><a href="${escape(end.json.completion_url)}">Return to the study site</a></p>` : "";
  message("done", `<div class="text"><h2>Thank you!</h2><p>Your answers are saved. Your completion code is</p>
    <p class="code" id="completion-code">${escape(end.json.completion_code)}</p>${link}</div>`);
}

main();

"""The experiment page in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium).

The stream is designed from `vms-zoo generate` pairs and foils. Scripted participants press SPACE on known
trials and drag known boxes; the exported tables must equal the script exactly and `analyse` must give the hit
rates and d' the script implies. Fault tests kill -9 the server mid-sequence and take the browser offline for a
few trials; nothing acknowledged may be lost or duplicated. With VMS_ZOO_SCREENSHOTS=1 the screenshots of each
screen are also written to docs/experiment/ (as 64-colour PNGs, to keep the repository small).
"""

import asyncio
import os

import pytest

from study_helpers import (CHROMIUM, CHROMIUM_ARGS, REPO, WEB_DIST, Server, expected_tables, exported,
                           make_study, script)
from vms_zoo.human.experiment import analyse, dprime
from vms_zoo.human.instrument import study

pytestmark = pytest.mark.experiment_server
# A missing piece fails these tests, saying what to install (README, Tests): they never skip.
for missing, why in [(not os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
                     (not os.path.exists(os.path.join(WEB_DIST, "index.html")),
                      "the page is not built (cd web && npm ci && npm run build)")]:
    if missing:
        raise RuntimeError(f"The browser tests need Chromium and the built page: {why}.")
from playwright import async_api  # noqa: E402  (the experiment extra)

DISPLAY_S = 1.5  # long enough for a scripted key press on a busy machine
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def study_files(tmp_path_factory):
    """The README's design from `vms-zoo generate` pairs and foils (the default generator preset), small."""
    from vms_zoo import cli

    folder = tmp_path_factory.mktemp("browser_study")
    images = folder / "images"
    assert cli.main(["generate", "--pairs", "6", "--output", str(images / "pairs")]) == 0
    assert cli.main(["generate", "--memorability", "0.5", "--pairs", "6", "--seed", "1",
                     "--output", str(images / "foils")]) == 0
    streams_path, images, streams = make_study(str(folder), display_s=DISPLAY_S)
    assert len(os.listdir(os.path.join(images, "pairs"))) == 13  # 12 generated images and grid.png, none drawn
    return {"streams_path": streams_path, "images": images, "streams": streams, "shots": folder / "shots"}


def serve(files, db, port=None):
    return Server(files["streams_path"], files["images"], str(db), port=port)


async def open_browser(playwright):
    # launch() gives every run a fresh temporary profile (its own --user-data-dir)
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def new_page(browser):
    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    return context, await context.new_page()


class Shots:
    """Screenshots of each screen, into the test's folder; `publish` (after the browser run: it blocks) copies
    them to docs/experiment/ when VMS_ZOO_SCREENSHOTS=1. Only untimed screens, or a stream trial that needs no
    key press, are shot, so a screenshot never makes a scripted participant miss a trial."""

    def __init__(self, folder):
        self.folder = folder
        self.names = []
        os.makedirs(folder, exist_ok=True)

    async def take(self, page, name):
        await page.screenshot(path=os.path.join(self.folder, f"{name}.png"))
        self.names.append(name)

    def publish(self):
        if os.environ.get("VMS_ZOO_SCREENSHOTS") != "1":
            return
        from PIL import Image

        os.makedirs(os.path.join(REPO, "docs", "experiment"), exist_ok=True)
        for name in self.names:
            Image.open(os.path.join(self.folder, f"{name}.png")).convert("RGB").quantize(64).save(
                os.path.join(REPO, "docs", "experiment", f"{name}.png"), optimize=True)


async def screen(page, name, position=None):
    at = "" if position is None else f'[data-position="{position}"]'
    await page.wait_for_selector(f'body[data-screen="{name}"]{at}', state="attached")


async def begin(page, url, participant, shots=None):
    await page.goto(f"{url}?PROLIFIC_PID={participant}")
    await screen(page, "consent")
    if shots:
        await shots.take(page, "1_consent")
    await page.get_by_role("button", name="I agree").click()
    await screen(page, "instructions")
    if shots:
        await shots.take(page, "2_instructions")
    await page.get_by_role("button", name="Start").click()


async def answer(page, position, response, boxes, shots=None):
    """Play one scripted trial: SPACE and the boxes on a 'seen' trial, nothing otherwise."""
    if not response:
        return
    await screen(page, "stream", position)
    await page.keyboard.press("Space")
    await screen(page, "boxes", position)
    left, top, width, height = await page.eval_on_selector(
        "#boxes-layer", "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }")
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        await page.mouse.move(left + x0 * width, top + y0 * height)
        await page.mouse.down()
        await page.mouse.move(left + x1 * width, top + y1 * height, steps=4)
        await page.mouse.up()
        await page.wait_for_selector(f'body[data-boxes="{k + 1}"]', state="attached")
    if shots:
        await shots.take(page, "4_boxes")
    await page.click("#boxes-done")


async def finish(page, shots=None):
    await screen(page, "done")
    if shots:
        await shots.take(page, "6_done")
    return (await page.text_content("#completion-code")).strip()


def acknowledgements(page):
    """Positions the server acknowledged (200) to this page, in order, duplicates included."""
    acks = []

    def on_response(response):  # the position from the request: a reload may discard the response's body
        if response.url.endswith("/api/trial") and response.status == 200:
            acks.append(response.request.post_data_json["position"])
    page.on("response", on_response)
    return acks


@pytest.mark.slow  # several browsers for 20 s
def test_scripted_participants_side_by_side(study_files, tmp_path):
    """Three participants at once, each in their own browser context; the third goes offline from trial 3 to
    trial 7 and comes back. The export equals their script and the analysis gives the hit rates and d' it
    implies; the offline participant's trials were kept in the browser and sent, in order, once."""
    streams = study_files["streams"]
    db = tmp_path / "s.sqlite"
    shots = Shots(str(study_files["shots"]))
    scripts = {f"prolific{i}": (i, script(streams, i, seed=200 + i, p_press=0.5)) for i in range(3)}
    scripts["prolific2"][1].update({3: (1, [[0.0, 0.0, 0.5, 0.5]]), 5: (1, [[0.25, 0.25, 1.0, 1.0]]),
                                    7: (0, [])})  # no key press due on trial 7, while the test goes online
    offline = {}

    async def participant(browser, url, name, answers, shots):
        context, page = await new_page(browser)
        acks = acknowledgements(page)
        await begin(page, url, name, shots)
        for position, (response, boxes) in sorted(answers.items()):
            if name == "prolific2" and position == 3:
                await screen(page, "stream", 3)
                await context.set_offline(True)
            if name == "prolific2" and position == 7:
                await screen(page, "stream", 7)
                offline["pending"] = await page.evaluate(
                    "JSON.parse(localStorage.getItem('vms-zoo:prolific2:outbox')).length")
                await context.set_offline(False)
            await answer(page, position, response, boxes, shots if position == first_press(answers) else None)
        code = await finish(page, shots)
        offline.setdefault("acks", {})[name] = acks
        await context.close()
        return code

    async def run(url):
        async with async_api.async_playwright() as p:
            browser = await open_browser(p)
            # participants arrive in order (so each gets the next least-used sequence), then run side by side
            tasks = []
            for k, name in enumerate(scripts):
                tasks.append(asyncio.create_task(participant(browser, url, name, scripts[name][1],
                                                             shots if k == 0 else None)))
                await asyncio.sleep(1.5)
            codes = await asyncio.gather(*tasks)
            await browser.close()
            return codes

    with serve(study_files, db) as server:
        codes = asyncio.run(run(server.url))
    shots.publish()
    assert offline["pending"] >= 3 and all(acks == list(range(12)) for acks in offline["acks"].values())
    out = tmp_path / "export"
    study.export(str(db), str(out))
    want_trials, want_boxes = expected_tables(streams, scripts)
    got_trials, got_boxes = exported(str(out))
    assert got_trials == want_trials
    assert got_boxes == want_boxes
    with open(out / "participants.csv") as f:
        assert [line.split(",")[-1] for line in f.read().splitlines()[1:]] == codes

    trials, boxes = study.analysis_tables(str(db))[:2]
    report = analyse(trials, boxes, {str(it["image"]): it["kind"] for seq in streams for it in seq})
    written, charts = study.report(str(db), str(tmp_path / "report"))  # what `vms-zoo experiment report` runs
    assert written["table2_dprime"] == report["table2_dprime"] and len(charts) >= 3
    for kind in ("high", "low", "foil"):
        hits = n_signal = fas = n_noise = 0
        for sequence, answers in scripts.values():
            for position, (response, _) in answers.items():
                item = streams[sequence][position]
                if item["kind"] == kind:
                    hits, n_signal = hits + response * item["repeat"], n_signal + item["repeat"]
                    fas, n_noise = fas + response * (1 - item["repeat"]), n_noise + (1 - item["repeat"])
        row = report["table2_dprime"][kind]
        assert row["hit_rate"] == pytest.approx(hits / n_signal) and row["fa_rate"] == pytest.approx(fas / n_noise)
        assert row["dprime"] == pytest.approx(float(dprime(hits, n_signal, fas, n_noise)))


def first_press(answers):
    return min((p for p, (r, _) in answers.items() if r), default=None)


@pytest.mark.slow  # several browsers for 20 s
def test_kill_9_mid_sequence_then_restart_and_reload(study_files, tmp_path):
    """The server is killed -9 after trial 4; the participant answers three more trials with no server, the
    server restarts, the page reloads and resumes: every trial stored exactly once, as scripted."""
    streams = study_files["streams"]
    db = tmp_path / "s.sqlite"
    answers = script(streams, 0, seed=300, p_press=0.5)
    answers.update({4: (1, [[0.1, 0.1, 0.4, 0.4]]), 5: (0, []), 6: (1, [[0.5, 0.5, 0.9, 0.8]]), 8: (0, []),
                    9: (1, [[0.2, 0.3, 0.6, 0.7]])})  # no key press due while the test shoots trials 5 and 8
    server = serve(study_files, db).start()
    shots = Shots(str(study_files["shots"]))

    async def run():
        async with async_api.async_playwright() as p:
            browser = await open_browser(p)
            context, page = await new_page(browser)
            acks = acknowledgements(page)
            await begin(page, server.url, "killed")
            for position in range(5):
                await answer(page, position, *answers[position])
            await screen(page, "stream", 5)
            await shots.take(page, "3_stream")
            server.kill9()
            for position in range(5, 8):
                await answer(page, position, *answers[position])
            await screen(page, "stream", 8)
            await page.wait_for_selector("#connection:not([hidden])")
            await shots.take(page, "5_connection_lost")
            pending = int(await page.evaluate("JSON.parse(localStorage.getItem('vms-zoo:killed:outbox')).length"))
            server.start()
            await page.reload()
            await screen(page, "resume")
            await shots.take(page, "7_resume")
            await page.get_by_role("button", name="Start").click()
            for position in range(8, 12):
                await answer(page, position, *answers[position])
            code = await finish(page)
            await browser.close()
            return acks, pending, code

    try:
        acks, pending, code = asyncio.run(run())
    finally:
        server.stop()
    shots.publish()
    trials, boxes = exported(_export(db, tmp_path))
    want_trials, want_boxes = expected_tables(streams, {"killed": (0, answers)})
    print(f"kill -9 in the browser: {len(set(acks))} trials acknowledged ({len(acks) - len(set(acks))} "
          f"duplicate acks), {len(trials)} stored; {pending} waited in the browser while the server was down")
    assert trials == want_trials and boxes == want_boxes
    assert sorted(set(acks)) == list(range(12)) and pending >= 3 and len(code) == 8


def _export(db, tmp_path):
    out = tmp_path / "export"
    study.export(str(db), str(out), overwrite=True)
    return str(out)

"""The human experiment, run for real: a jsPsych page served by an ASGI app, every response in SQLite.

- `vms_zoo.human.instrument.store`: the SQLite store (WAL, one committed row per answered trial).
- `vms_zoo.human.instrument.app`: the Starlette app and its HTTP API.
- `vms_zoo.human.instrument.study`: what `vms-zoo experiment serve|export|report|status` runs.

The page itself lives in web/ at the top of the repository (built by ``npm ci && npm run build``). No Keras or
other deep-learning framework is imported, so the server starts in a second. docs/experiment.md covers a study
end to end. Import the submodules directly; this package imports none of them.
"""

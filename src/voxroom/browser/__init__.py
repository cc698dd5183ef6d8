"""The browser-action agent's parts (the SeeAct method, on Mind2Web's action space; our own
implementation). One question per module: `controller` (Debian's Chromium through
Playwright: open, observe, act, highlight), `elements` (what of a page the agent sees),
`ranking` (candidates for a step), `prompt` and `parsing` (the multiple-choice question and
reading its answer), `chooser` (an LLM or a script answers), `decide` (one step's choice),
`task` (the step loop with its limits and hooks), `safety` (allow-list, secrets), `live` (the
screen as the agent's video) and `sites` (local test websites). The voice agent is
`voxroom.apps.browser`; the benchmark `voxroom.bench.browser`.
"""

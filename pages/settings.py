"""Settings: engine in use, Gemini key for this session, limits and loop health."""

import streamlit as st
from pydantic import SecretStr

from research.ui.queueing import WORKER_KEY_NOTE, backend_lines, queue_enabled
from research.ui.resources import SESSION_GEMINI_KEY, session_key
from research.ui.status import breaker_warning, engine_in_use, gemini_model, limits, loop_health

st.title("Settings")

st.subheader("Engine")
typed = st.text_input(
    "Gemini API key (this browser session only)", type="password", key="gemini-key-input"
)
if typed:
    st.session_state[SESSION_GEMINI_KEY] = SecretStr(typed.strip())
if queue_enabled():
    st.info(WORKER_KEY_NOTE)


def forget_key() -> None:
    """Drop the session's key and clear the field (a callback, so the widget may change)."""
    st.session_state.pop(SESSION_GEMINI_KEY, None)
    st.session_state["gemini-key-input"] = ""


if session_key() is not None:
    st.button("Forget session key", on_click=forget_key)
engine = engine_in_use()
st.metric("Engine in use", engine)
if engine == "gemini":
    st.write(f"Gemini model `{gemini_model()}`; the key is set and never shown.")
else:
    st.write(
        "The local engine runs offline with no key. Add a Gemini key to find competitors with "
        "Google Search grounding and to write richer briefs."
    )

warning, caption = breaker_warning()
if warning:
    st.warning(warning)
if caption:
    st.caption(caption)

st.subheader("Limits")
shown = limits()
st.table({"Limit": list(shown), "Value": list(shown.values())})

st.subheader("Loop health")
lag, in_progress, alive = loop_health()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Lag p50", f"{lag.p50_ms:.1f} ms")
c2.metric("Lag p99", f"{lag.p99_ms:.1f} ms")
c3.metric("Lag max", f"{lag.max_ms:.1f} ms")
c4.metric("Runs in progress", in_progress)
st.caption(f"Event loop thread alive: {alive}; {lag.samples} heartbeat samples.")

st.subheader("History and queue")
backend = backend_lines()
st.table({"": [label for label, _ in backend], "Value": [value for _, value in backend]})

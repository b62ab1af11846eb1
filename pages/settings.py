"""Settings: engine in use, Gemini key for this session, limits and loop health."""

import streamlit as st
from pydantic import SecretStr

from research.ui.queueing import backend_lines
from research.ui.resources import SESSION_GEMINI_KEY, job_manager, loop_runner, session_key

st.title("Settings")
runner = loop_runner()
settings = runner.settings

st.subheader("Engine")
typed = st.text_input(
    "Gemini API key (this browser session only)", type="password", key="gemini-key-input"
)
if typed:
    st.session_state[SESSION_GEMINI_KEY] = SecretStr(typed.strip())


def forget_key() -> None:
    """Drop the session's key and clear the field (a callback, so the widget may change)."""
    st.session_state.pop(SESSION_GEMINI_KEY, None)
    st.session_state["gemini-key-input"] = ""


if session_key() is not None:
    st.button("Forget session key", on_click=forget_key)
has_key = settings.has_gemini_key or session_key() is not None
engine = "gemini" if has_key else "local"
st.metric("Engine in use", engine)
if has_key:
    st.write(f"Gemini model `{settings.gemini_model}`; the key is set and never shown.")
else:
    st.write(
        "The local engine runs offline with no key. Add a Gemini key to find competitors with "
        "Google Search grounding and to write richer briefs."
    )

clients, open_breakers = runner.submit(runner.services().open_breakers()).result(timeout=10)
if clients:
    if open_breakers:
        st.warning(
            f"Gemini failed repeatedly; calls pause for {settings.gemini_breaker_cooldown:.0f} s "
            "and runs finish on the local engine meanwhile."
        )
    else:
        st.caption(f"Gemini circuit breaker closed ({clients} key(s) in use).")

st.subheader("Limits")
limits = {
    "Pages per site (default)": 30,
    "Requests per host at once": settings.per_host_concurrency,
    "Connections across all runs": settings.global_connections,
    "Page deadline (s)": settings.page_timeout,
    "Crawl time budget (s)": settings.crawl_time_budget,
    "Largest page (MB)": settings.max_body_bytes / 1_000_000,
    "Gemini call deadline (s)": settings.gemini_timeout,
    "Gemini calls at once": settings.gemini_concurrency,
    "Gemini requests per minute": settings.gemini_rpm,
}
st.table({"Limit": list(limits), "Value": [str(v) for v in limits.values()]})

st.subheader("Loop health")
lag = runner.lag()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Lag p50", f"{lag.p50_ms:.1f} ms")
c2.metric("Lag p99", f"{lag.p99_ms:.1f} ms")
c3.metric("Lag max", f"{lag.max_ms:.1f} ms")
c4.metric("Runs in progress", len(job_manager().running()))
st.caption(f"Event loop thread alive: {runner.running}; {lag.samples} heartbeat samples.")

st.subheader("History and queue")
backend = backend_lines()
st.table({"": [label for label, _ in backend], "Value": [value for _, value in backend]})

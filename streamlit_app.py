"""Research Lab dashboard: page config and navigation."""

# A spawned worker process (research.processes) re-runs this file as __mp_main__: it must not
# start a dashboard there (nor import Streamlit).
if __name__ != "__mp_main__":
    import streamlit as st

    from research.ui.queueing import history_problem

    st.set_page_config(page_title="Research Lab", page_icon="🔎", layout="wide")
    if (problem := history_problem()) is not None:  # e.g. the PostgreSQL history is unreachable
        st.error(problem)
        st.stop()
    navigation = st.navigation(
        [
            st.Page(
                "pages/discover.py",
                title="Discover Topics",
                icon=":material/travel_explore:",
                default=True,
            ),
            st.Page("pages/batch.py", title="Batch", icon=":material/list_alt:"),
            st.Page("pages/history.py", title="History", icon=":material/history:"),
            st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
        ]
    )
    navigation.run()

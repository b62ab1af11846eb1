"""`Grade a draft` on the Briefs tab: paste a draft or give its URL, see the score and gaps."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from research.config import GRADE_WAIT_SECONDS
from research.errors import FetchTimeout, InvalidRequest, ResearchError
from research.grade import grade_draft, read_draft_text, read_draft_url
from research.models import Draft, Grade, Report
from research.ui.resources import loop_runner, wait_on_loop

KIND_LABELS = {"subtopic": "Cover", "keyphrase": "Use the phrase", "question": "Answer"}


def grade_input(report: Report, number: int, text: str, url: str) -> Grade:
    """Grade pasted text or the page at `url` against brief `number`; raise ResearchError."""
    services = loop_runner().services()
    if url.strip():
        allow = services.settings.allow_private_hosts
        coro = read_draft_url(services.fetcher, url, allow_private=allow, limiter=services.threads)
    elif text.strip():
        coro = read_draft_text(text, limiter=services.threads)
    else:
        raise InvalidRequest("Paste a draft or enter its URL to grade it.")
    slow = FetchTimeout(f"The draft could not be read within {GRADE_WAIT_SECONDS:.0f} s.")
    draft: Draft = wait_on_loop(coro, GRADE_WAIT_SECONDS, slow)
    return grade_draft(report, number, draft)  # in the page's thread, never on the loop


def render_grade_result(result: Grade) -> None:
    """Show a grade: the score, its parts and a checklist of what the draft misses."""
    st.metric("Draft score", f"{result.score}/100")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Part": name,
                    "Score": "n/a" if part.score is None else f"{part.score:.0f}",
                    "Weight": part.weight,
                }
                for name, part in result.parts.items()
            ]
        ),
        hide_index=True,
    )
    if result.missing:
        lines = [f"- [ ] {KIND_LABELS[item.kind]}: {item.text}" for item in result.missing]
        st.markdown("**Still missing**\n" + "\n".join(lines))
    else:
        st.caption("The draft covers everything the brief asks for.")


def render_grade(report: Report, number: int, key: str) -> None:
    """`Grade a draft` for brief `number` (from 1): inputs, the button and the last grade."""
    key = f"{key}-grade-{report.run_id}-{number}"
    text = st.text_area("Draft (Markdown, HTML or text)", key=f"{key}-text")
    url = st.text_input("…or the URL of the published draft", key=f"{key}-url")
    if st.button("Grade a draft", key=f"{key}-go"):
        try:
            st.session_state[key] = grade_input(report, number, text, url)
        except ResearchError as exc:
            st.session_state.pop(key, None)
            st.error(str(exc))
    result = st.session_state.get(key)
    if isinstance(result, Grade):
        render_grade_result(result)

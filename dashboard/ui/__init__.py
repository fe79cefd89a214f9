"""The Streamlit side of the dashboard: shared page helpers, sidebar, theme, charts and the job
targets that call the engine from worker threads. Pages (dashboard/pages/) render what these
helpers and the engine report; nothing here talks Docker except through dashboard.engine.
"""

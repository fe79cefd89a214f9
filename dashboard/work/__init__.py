"""The work layer: jobs, build slots, job targets and the recording of their results.

Between the Streamlit side (dashboard/ui, dashboard/pages) and the engine (dashboard/engine):
the pages and the CLI both go through here, and nothing here imports Streamlit
(tests/unit/test_layers.py checks it). The flow runs one way: pages -> ui -> work -> engine.
"""

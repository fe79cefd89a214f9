"""Docker for ML engineers: a Streamlit dashboard, its Docker engine and its command line."""

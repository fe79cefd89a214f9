"""The engine: everything that talks to Docker, and nothing that knows of Streamlit.

Pages and the command line call these modules and render the typed records they return.
"""

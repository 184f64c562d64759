"""The web app: FastAPI, pages rendered on the server."""

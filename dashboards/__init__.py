"""The one web edge for every user: FastAPI app, routes per audience, live stream, error map, static pages."""

"""Operator web app: FastAPI factory, live alert stream, resident cards, the shared stylesheet."""

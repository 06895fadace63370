"""Stress tests: real uvicorn servers under load, killed, run as several processes, backed up."""

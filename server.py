"""ASGI entry point: ``uvicorn server:app`` or ``python server.py``."""

from feedback.app import create_app

app = create_app()

if __name__ == "__main__":
    import uvicorn

    settings = app.state.settings
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=True)

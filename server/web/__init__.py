"""The investigator's web app: Starlette over the gRPC server (server.web.app)."""

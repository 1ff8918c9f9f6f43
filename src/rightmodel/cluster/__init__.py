"""Scale-out: state that several gateway processes (one machine or many) must share.

`limits_store` keeps rate limits and budget reservations in SQL so N processes admit requests as
one would; `remote_specialist` is the ingress's face of a specialist served by its own Ray Serve
deployment (the deployments themselves, which build the app, live in gateway/ray_serve.py). No HTTP here (the gateway imports this package, never the reverse).
"""

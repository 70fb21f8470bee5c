"""The command-line client of a running SYNAPSE API: `synapse import`, `synapse jobs …`.

`api` is the HTTP client (URL and token from SYNAPSE_API_URL / SYNAPSE_TOKEN), `follow` watches
one job live over `/ws/logs`, `commands` holds the Typer commands and `demo` writes demo data.
"""

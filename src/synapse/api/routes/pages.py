"""The start page (the admin Job Queue screen grows here)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SYNAPSE jobs</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #ddd;
text-align:left}progress{width:8rem}</style></head>
<body><h1>SYNAPSE background processing</h1>
<p><a href="/docs">API documentation</a> · <a href="/api/v1/jobs">jobs (JSON)</a> ·
<a href="/readyz">readiness</a></p>
<h2>Recent jobs</h2><table id="jobs"><thead><tr><th>job</th><th>type</th><th>project</th>
<th>state</th><th>progress</th><th>message</th></tr></thead><tbody></tbody></table>
<script>
async function load(){
  const r = await fetch('/api/v1/jobs?limit=25'); const data = await r.json();
  const body = document.querySelector('#jobs tbody'); body.textContent = '';
  for (const j of data.items){
    const tr = document.createElement('tr');
    for (const v of [j.id.slice(0,8), j.type, j.project_id || '', j.state]){
      const td = document.createElement('td'); td.textContent = v; tr.appendChild(td);}
    const p = document.createElement('td'); const bar = document.createElement('progress');
    bar.max = 100; bar.value = j.percent; p.appendChild(bar); tr.appendChild(p);
    const m = document.createElement('td'); m.textContent = j.message; tr.appendChild(m);
    body.appendChild(tr);
  }
}
load();
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/logs');
let pending = null;
ws.onmessage = () => { if (!pending) pending = setTimeout(() => { pending = null; load(); }, 300); };
</script></body></html>
"""


@router.get("/", response_class=HTMLResponse)
def index() -> str:
    return INDEX

#!/usr/bin/env python3
# The seed's Flask app (../shared/seed/000_a7e36229881f0b47.txt), kept as the
# bench's reference for "what the original ran on". Changed only as far as needed
# for it to run and serve /env/version:
#   - `import url lib.request` -> `import urllib.request`, `@app.route（'/fetch'）`
#     (full-width parentheses) -> ASCII, the `app.run` line indented;
#   - /env: a missing variable returned None, which Flask turns into a 500;
#     it now answers 404;
#   - /fetch: `reponse.read` (the method, not its result) -> `reponse.read()`;
#   - host and port come from BENCH_HOST / BENCH_PORT (the seed: 0.0.0.0:80) and
#     debug=True is dropped: the reloader and debugger would slow every request
#     and flatter our ratios. threaded=True is Flask's default, written out.
# gunicorn loads the same module: `gunicorn -w 1 -k sync flaskapp:app`.
from flask import Flask, request, abort
import os
import urllib.request

app = Flask(__name__)


@app.route('/env/<env>')
def showenv(env):
    value = os.environ.get(env)
    if value is None:
        abort(404)
    return value


@app.route('/fetch')
def fetch_env():
    url = request.args.get('url', '')
    with urllib.request.urlopen(url) as reponse:
        return reponse.read()


if __name__ == "__main__":
    app.run(host=os.environ.get("BENCH_HOST", "127.0.0.1"),
            port=int(os.environ.get("BENCH_PORT", "80")), threaded=True)

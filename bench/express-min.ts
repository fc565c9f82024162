// The limit of "keeping express as the framework": one express 5 route that
// answers /env/:name like flaskapp, with no logging and no metrics.
// Usage: node bench/express-min.ts PORT (or PORT in the environment)
import express from "express";

const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("usage: node bench/express-min.ts PORT (1-65535)");
  process.exit(2);
}

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.get("/env/:name", (req, res) => {
  const value = process.env[req.params.name];
  if (value === undefined) {
    res.status(404).end();
    return;
  }
  res.type("text/plain; charset=utf-8").send(value);
});
app.listen(port, "127.0.0.1");

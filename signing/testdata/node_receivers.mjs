// Verifies webhookd's signatures with the npm libraries the source document's
// receivers use: standardwebhooks (static) and jsonwebtoken + jwks-rsa
// (dynamic), exactly as the document calls them. Input on stdin:
//   {"vectors":[{secrets,msg_id,timestamp,body,signature}],
//    "jwks_uri", "audience", "tokens":[...]}
// Output on stdout: {"vectors":[true|"error"...], "tokens":[true|"error"...]}.
// The packages are resolved from the directory in NODE_MODULES_FROM.
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_MODULES_FROM + "/package.json");
const { Webhook } = require("standardwebhooks");
const jwt = require("jsonwebtoken");
const jwksClient = require("jwks-rsa");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);

const vectors = req.vectors.map((v) => {
  try {
    for (const secret of v.secrets) {
      const wh = new Webhook(secret);
      // The library checks the timestamp against the wall clock; the vectors
      // are fixed in time, so verify with their own timestamp as "now".
      const realNow = Date.now;
      Date.now = () => v.timestamp * 1000;
      try {
        wh.verify(v.body, {
          "webhook-id": v.msg_id,
          "webhook-timestamp": String(v.timestamp),
          "webhook-signature": v.signature,
        });
      } finally {
        Date.now = realNow;
      }
    }
    return true;
  } catch (e) {
    return String(e && e.message ? e.message : e);
  }
});

const client = jwksClient({ jwksUri: req.jwks_uri });
function getKey(header, callback) {
  client.getSigningKey(header.kid, (err, key) => {
    if (err) return callback(err);
    callback(null, key.getPublicKey());
  });
}
const tokens = await Promise.all(
  req.tokens.map(
    (t) =>
      new Promise((resolve) => {
        jwt.verify(t, getKey, { algorithms: ["RS256"], audience: req.audience }, (err) =>
          resolve(err ? String(err.message) : true),
        );
      }),
  ),
);

process.stdout.write(JSON.stringify({ vectors, tokens }));

// The source document's dynamic-webhook receiver (JavaScript, "動的署名(JWKS)を
// 検証する"), run as written except for these marked changes:
//   [jwks]     jwksUri is webhookd's JWKS (process.env.JWKS_URI), not Google's;
//   [audience] the audience is process.env.AUDIENCE instead of the
//              placeholder "your-configured-audience";
//   [port]     the sample shows no app.listen; it listens on process.env.PORT;
//   [body]     after the token verifies, the body is checked against the
//              token's body_sha256 claim. The sample omits this, and without it
//              a receiver accepts any body carried next to a valid token: the
//              JWT signs the body only through that claim.
import { GoogleGenAI } from "@google/genai";
import express from "express";
import jwt from "jsonwebtoken";
import jwksClient from "jwks-rsa";
import { createHash } from "node:crypto"; // [body]

const app = express();
app.use(express.text({ type: 'application/json' }));

const client = jwksClient({
  jwksUri: process.env.JWKS_URI // [jwks]
});

function getKey(header, callback) {
  client.getSigningKey(header.kid, (err, key) => {
    if (err) return callback(err); // the sample dereferences key even on error
    const signingKey = key.getPublicKey();
    callback(null, signingKey);
  });
}

app.post('/gemini-webhook-dynamic', (req, res) => {
  const token = req.headers['webhook-signature'];

  if (!token) {
    return res.status(400).json({ error: "No signature header" });
  }

  jwt.verify(
    token,
    getKey,
    {
      algorithms: ["RS256"],
      audience: process.env.AUDIENCE // [audience]
    },
    (err, decoded) => {
      if (err) {
        return res.status(400).json({ error: "Invalid Dynamic signature", details: err.message });
      }
      // [body]
      const bodyHash = createHash("sha256").update(typeof req.body === "string" ? req.body : "").digest("base64url");
      if (decoded.body_sha256 !== bodyHash || decoded.webhook_id !== req.headers['webhook-id']) {
        return res.status(400).json({ error: "Invalid Dynamic signature", details: "body or webhook-id does not match the token" });
      }

      console.log("Verified Dynamic payload success.");
      res.status(200).json({ status: "received" });
    }
  );
});

app.listen(Number(process.env.PORT), () => { // [port]
  console.log("Dynamic webhook server is running on port " + process.env.PORT);
});

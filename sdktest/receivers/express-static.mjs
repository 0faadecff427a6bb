// The source document's static-webhook receiver (JavaScript, "サーバーで webhook
// リクエストを処理する"), run as written except for these marked changes, each
// needed for the sample to run at all under Node.js:
//   [port]    it listens on process.env.PORT instead of 8000;
//   [import]  it imports GoogleGenAI, which the sample uses but never imports
//             (the SDK ignores the webhookSecret option; see the wire contract §7);
//   [ts]      the TypeScript annotation `: Record<string, string>` is dropped;
//   [shim]    the handler calls req.text() and req.headers.forEach(), the
//             Fetch-API Request methods, which an Express request lacks; a
//             middleware provides them over the raw text body that the
//             sample's own express.text() parser produced.
// The secret comes from WEBHOOK_SIGNING_SECRET, as in the sample.

// npm install standardwebhooks
import { Webhook } from "standardwebhooks";
import express from "express";
import { GoogleGenAI } from "@google/genai"; // [import]

const app = express();
const client = new GoogleGenAI({ webhookSecret: process.env.WEBHOOK_SIGNING_SECRET });

// Don't use express.json() because signature verification needs the raw text body
app.use(express.text({ type: "application/json" }));

// [shim] Fetch-style accessors the sample's handler expects.
app.use((req, _res, next) => {
  req.text = async () => (typeof req.body === "string" ? req.body : "");
  const raw = req.headers;
  Object.defineProperty(raw, "forEach", {
    enumerable: false,
    value: (fn) => Object.entries(raw).forEach(([k, v]) => fn(Array.isArray(v) ? v.join(", ") : v, k)),
  });
  next();
});

app.post("/gemini-callback", async (req, res) => {
  const payload = await req.text();
        const headers = {}; // [ts]
        req.headers.forEach((value, key) => {
            headers[key] = value;
        });

        try {
            const wh = new Webhook(process.env.WEBHOOK_SIGNING_SECRET);
            const event = wh.verify(payload, headers);

            // Process thin payload contents
            if (event.type === "batch.completed" || event.type === "video.generated") {
                const uri = event.data.output_file_uri;
                console.log(`Job finished! Results at: ${uri}`);
            }

            res.status(200).json({ status: "received" });
        } catch (e) {
            console.error("Webhook verification failed:", e);
            res.status(400).send("Invalid signature");
        }
});

app.listen(Number(process.env.PORT), () => { // [port]
  console.log("Webhook server is running on port " + process.env.PORT);
});

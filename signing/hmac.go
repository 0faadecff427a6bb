package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// SignHMAC returns the Standard Webhooks webhook-signature header value for a
// message: one "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" per key,
// space-separated. During a rotation grace every live key signs, so a
// receiver holding either the old or the new secret verifies.
func SignHMAC(keys [][]byte, msgID string, timestamp int64, body []byte) string {
	ts := strconv.FormatInt(timestamp, 10)
	var sb strings.Builder
	for i, key := range keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msgID))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("v1,")
		sb.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return sb.String()
}

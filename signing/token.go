package signing

import "time"

// DeliveryToken is what a dynamic delivery's RS256 JWT asserts (SPEC §4): who
// sent it (Issuer), for whom (Audience: the destination URI or the project's
// configured audience), which message (WebhookID, EventType) and which exact
// body (its SHA-256). The token expires TokenLifetime after IssuedAt.
type DeliveryToken struct {
	Issuer    string
	Audience  string
	WebhookID string
	EventType string
	Body      []byte
	IssuedAt  time.Time
}

// TokenLifetime is the validity of a delivery JWT (the exp claim).
const TokenLifetime = 5 * time.Minute

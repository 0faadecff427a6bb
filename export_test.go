package webhookd

// SameJSON exposes sameJSON to the external tests.
var SameJSON = sameJSON

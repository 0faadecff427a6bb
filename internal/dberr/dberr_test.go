package dberr_test

import (
	"errors"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/dberr"
)

func TestMap(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	domain := webhookd.Errorf(webhookd.EPRECONDITION, "not now")
	tests := []struct {
		name     string
		err      error
		kind     dberr.Kind
		create   bool
		wantCode string
		wantMsg  string
	}{
		{"nil", nil, dberr.Other, false, "", ""},
		{"no rows", boom, dberr.NoRows, false, webhookd.ENOTFOUND, "Webhook not found"},
		{"unique", boom, dberr.Unique, false, webhookd.ECONFLICT, "Webhook already exists."},
		{"bad text", boom, dberr.BadText, false, webhookd.EINVALID, "Text fields must be valid UTF-8 without NUL characters."},
		{"a domain error passes", domain, dberr.Other, false, webhookd.EPRECONDITION, "not now"},
		{"unavailable", boom, dberr.Unavailable, false, webhookd.EUNAVAILABLE, "The service is temporarily unavailable; try again."},
		{"unavailable on create", boom, dberr.Unavailable, true, webhookd.EUNAVAILABLE, "The service is temporarily unavailable; try again."},
		{"anything else is internal", boom, dberr.Other, false, webhookd.EINTERNAL, "Internal error."},
		{"a foreign key is only a missing project on create", boom, dberr.ForeignKey, false, webhookd.EINTERNAL, "Internal error."},
		{"a missing project on create", boom, dberr.ForeignKey, true, webhookd.ENOTFOUND, "Project not found"},
		{"create maps the rest as Map", boom, dberr.Unique, true, webhookd.ECONFLICT, "Webhook already exists."},
	}
	for _, tt := range tests {
		mapFn := dberr.Map
		if tt.create {
			mapFn = dberr.MapCreate
		}
		got := mapFn("sqlite", tt.err, tt.kind, "create webhook", "Webhook")
		if webhookd.ErrorCode(got) != tt.wantCode || webhookd.ErrorMessage(got) != tt.wantMsg {
			t.Errorf("%s: %v, want code %q and message %q", tt.name, got, tt.wantCode, tt.wantMsg)
		}
	}
	if got := dberr.Map("sqlite", boom, dberr.Other, "create webhook", "Webhook"); !errors.Is(got, boom) || got.Error() != "sqlite: create webhook: boom" {
		t.Errorf("an internal error = %q, want it wrapped with the backend and op", got)
	}
	if got := dberr.Map("postgres", boom, dberr.Unavailable, "publish events", "Event"); !errors.Is(got, boom) || got.Error() != "postgres: publish events: database unavailable: boom" {
		t.Errorf("an unavailable error = %q, want the cause kept and wrapped with the backend and op", got)
	}
}

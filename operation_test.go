package webhookd_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func TestOperationName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   webhookd.Operation
		want string
	}{
		{webhookd.Operation{ID: "batch_1", Kind: webhookd.OperationBatch}, "batches/batch_1"},
		{webhookd.Operation{ID: "int_1", Kind: webhookd.OperationInteraction}, "interactions/int_1"},
		{webhookd.Operation{ID: "vop_1", Kind: webhookd.OperationVideo, Model: "veo-3.0-generate-001"}, "models/veo-3.0-generate-001/operations/vop_1"},
	}
	for _, tt := range tests {
		if got := tt.op.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
		if got, want := tt.op.EventSource(), "operation:"+tt.want; got != want {
			t.Errorf("EventSource() = %q, want %q", got, want)
		}
		kind, ok := webhookd.OperationKindOfID(tt.op.ID)
		if !ok || kind != tt.op.Kind {
			t.Errorf("OperationKindOfID(%q) = %q, %v; want %q", tt.op.ID, kind, ok, tt.op.Kind)
		}
	}
	if _, ok := webhookd.OperationKindOfID("wh_1"); ok {
		t.Error("OperationKindOfID(wh_1) ok; want not an operation id")
	}
}

func TestOperationStateTerminal(t *testing.T) {
	t.Parallel()
	terminal := map[webhookd.OperationState]bool{
		webhookd.BatchPending: false, webhookd.BatchRunning: false,
		webhookd.BatchSucceeded: true, webhookd.BatchFailed: true, webhookd.BatchCancelled: true, webhookd.BatchExpired: true,
		webhookd.InteractionQueued: false, webhookd.InteractionInProgress: false, webhookd.InteractionRequiresAction: false,
		webhookd.InteractionCompleted: true, webhookd.InteractionFailed: true, webhookd.InteractionCancelled: true,
		webhookd.VideoRunning: false, webhookd.VideoDone: true,
	}
	for s, want := range terminal {
		if got := s.Terminal(); got != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want)
		}
	}
}

func TestOperationCloneIsDeep(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	op := &webhookd.Operation{
		ID: "batch_1", Request: json.RawMessage(`{"a":1}`), Result: json.RawMessage(`{"b":2}`),
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://a.test"}, UserMetadata: json.RawMessage(`{"k":"v"}`)},
		EndTime:       &now, ExpireTime: &now, NextStepTime: &now,
	}
	c := op.Clone()
	c.Request[2] = 'X'
	c.Result[2] = 'X'
	c.WebhookConfig.URIs[0] = "changed"
	c.WebhookConfig.UserMetadata[2] = 'X'
	*c.EndTime = now.Add(time.Hour)
	*c.ExpireTime = now.Add(time.Hour)
	*c.NextStepTime = now.Add(time.Hour)
	if string(op.Request) != `{"a":1}` || string(op.Result) != `{"b":2}` ||
		op.WebhookConfig.URIs[0] != "https://a.test" || string(op.WebhookConfig.UserMetadata) != `{"k":"v"}` ||
		!op.EndTime.Equal(now) || !op.ExpireTime.Equal(now) || !op.NextStepTime.Equal(now) {
		t.Fatalf("changing the clone changed the original: %+v", op)
	}
}

func TestNewFile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := webhookd.NewFile("prj_1", "out.jsonl", "application/jsonl", webhookd.FileGenerated, []byte("abc"), now)
	if f.SizeBytes != 3 || f.State != webhookd.FileActive || f.Name() != "files/"+f.ID || len(f.ID) != len(webhookd.PrefixFile)+26 {
		t.Fatalf("NewFile = %+v", f)
	}
	// SHA-256("abc")
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hex.EncodeToString(f.SHA256); got != want {
		t.Fatalf("SHA256 = %s, want %s", got, want)
	}
}

func TestUploadSessionRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		declared, recvd  int64
		offset, n        int64
		wantAppend       string
		wantFinalizeCode string
	}{
		{"first chunk", 10, 0, 0, 4, "", webhookd.EPRECONDITION},
		{"wrong offset", 10, 4, 0, 4, webhookd.EPRECONDITION, webhookd.EPRECONDITION},
		{"past declared", 10, 4, 4, 7, webhookd.ETOOLARGE, webhookd.EPRECONDITION},
		{"exactly declared", 10, 4, 4, 6, "", webhookd.EPRECONDITION},
		{"complete", 10, 10, 10, 0, "", ""},
		{"unknown size", -1, 5, 5, 5, "", ""},
		{"past the maximum", -1, webhookd.MaxFileSize, webhookd.MaxFileSize, 1, webhookd.ETOOLARGE, ""},
	}
	for _, tt := range tests {
		s := &webhookd.UploadSession{DeclaredSize: tt.declared, Received: tt.recvd}
		if got := webhookd.ErrorCode(s.CheckAppend(tt.offset, tt.n)); got != tt.wantAppend {
			t.Errorf("%s: CheckAppend = %q, want %q", tt.name, got, tt.wantAppend)
		}
		if got := webhookd.ErrorCode(s.CheckFinalize()); got != tt.wantFinalizeCode {
			t.Errorf("%s: CheckFinalize = %q, want %q", tt.name, got, tt.wantFinalizeCode)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &webhookd.UploadSession{ProjectID: "prj_1", FileID: "file_x", DisplayName: "in.jsonl", MimeType: "application/jsonl", Received: 3}
	f := s.NewFile([]byte("sum"), now)
	if f.ID != "file_x" || f.ProjectID != "prj_1" || f.Source != webhookd.FileUploaded || f.State != webhookd.FileActive ||
		f.SizeBytes != 3 || string(f.SHA256) != "sum" || f.DisplayName != "in.jsonl" || !f.CreateTime.Equal(now) {
		t.Errorf("NewFile = %+v", f)
	}
}

package lro_test

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestParseUploadStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, length, ctype string
		fileID, display, mime     string
		size                      int64
	}{
		{name: "SDK start", body: `{"file":{"displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"12"}}`, length: "12", ctype: "application/jsonl",
			display: "in.jsonl", mime: "application/jsonl", size: 12},
		{name: "chosen name, snake_case", body: `{"file":{"name":"files/my-input","display_name":"x","mime_type":"text/plain"}}`,
			fileID: "my-input", display: "x", mime: "text/plain", size: -1},
		{name: "headers only", body: ``, length: "7", ctype: "image/png", mime: "image/png", size: 7},
		{name: "size from the body as a number", body: `{"file":{"sizeBytes":5}}`, mime: "application/octet-stream", size: 5},
	}
	for _, tt := range tests {
		s, err := lro.ParseUploadStart("prj_1", []byte(tt.body), tt.length, tt.ctype, t0)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.fileID != "" && s.FileID != tt.fileID || tt.fileID == "" && len(s.FileID) != len(webhookd.PrefixFile)+26 {
			t.Errorf("%s: FileID %q", tt.name, s.FileID)
		}
		if s.ProjectID != "prj_1" || s.DisplayName != tt.display || s.MimeType != tt.mime || s.DeclaredSize != tt.size ||
			s.Received != 0 || !s.ExpireTime.Equal(t0.Add(webhookd.UploadSessionTTL)) || len(s.ID) != len(lro.PrefixUpload)+26 {
			t.Errorf("%s: session %+v", tt.name, s)
		}
	}
	for _, tt := range []struct{ body, length, field string }{
		{`{"file":[]}`, "", "file"},
		{`{"file":{"name":"other/x"}}`, "", "file.name"},
		{`{"file":{"sizeBytes":"many"}}`, "", "file.sizeBytes"},
		{`{"file":{"sizeBytes":{}}}`, "", "file.sizeBytes"},
		{`{}`, "-1", lro.HeaderUploadContentLength},
		{`{"file":{"displayName":7}}`, "", "file.displayName"},
		{`{"file":{"mimeType":"a\nb"}}`, "", "file.mimeType"},
	} {
		_, err := lro.ParseUploadStart("prj_1", []byte(tt.body), tt.length, "", t0)
		wantField(t, err, tt.field)
	}
	if _, err := lro.ParseUploadStart("prj_1", nil, "99999999999", "", t0); webhookd.ErrorCode(err) != webhookd.ETOOLARGE {
		t.Errorf("oversized upload: %v; want too large", err)
	}
}

func TestParseUploadCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want lro.UploadCommand
		ok   bool
	}{
		{"start", lro.UploadCommand{}, false},
		{"upload", lro.UploadCommand{Upload: true}, true},
		{"upload, finalize", lro.UploadCommand{Upload: true, Finalize: true}, true},
		{"Finalize", lro.UploadCommand{Finalize: true}, true},
		{"query", lro.UploadCommand{Query: true}, true},
		{"cancel", lro.UploadCommand{Cancel: true}, true},
		{"", lro.UploadCommand{}, false},
		{"upload,,finalize", lro.UploadCommand{}, false},
	}
	for _, tt := range tests {
		got, err := lro.ParseUploadCommand(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseUploadCommand(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			wantField(t, err, lro.HeaderUploadCommand)
		}
	}
}

func TestRenderFileAndURLs(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	f := webhookd.NewFile("prj_1", "in.jsonl", "application/jsonl", webhookd.FileUploaded, []byte("abc"), t0)
	exp := t0.Add(48 * time.Hour)
	f.ExpireTime = &exp
	raw, err := m.RenderFile(f)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, raw, `{"name":"files/`+f.ID+`","displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"3",
		"createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z","expirationTime":"2026-11-22T10:00:00Z",
		"sha256Hash":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
		"uri":"`+baseURL+`/v1/files/`+f.ID+`","downloadUri":"`+baseURL+`/v1/files/`+f.ID+`:download?alt=media",
		"state":"ACTIVE","source":"UPLOADED"}`)
	if got, want := m.UploadURL("upl_a b"), baseURL+"/upload/v1/files?upload_id=upl_a+b"; got != want {
		t.Errorf("UploadURL = %s, want %s", got, want)
	}
}

func FuzzParseUploadStart(f *testing.F) {
	f.Add(`{"file":{"displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"12"}}`, "12", "application/jsonl")
	f.Add(`{"file":{"name":"files/x","size_bytes":3}}`, "", "")
	f.Fuzz(func(t *testing.T, body, length, ctype string) {
		s, err := lro.ParseUploadStart("prj_1", []byte(body), length, ctype, t0)
		if err != nil {
			if c := webhookd.ErrorCode(err); c != webhookd.EINVALID && c != webhookd.ETOOLARGE {
				t.Fatalf("rejection %v", err)
			}
			return
		}
		if s.DeclaredSize < -1 || s.DeclaredSize > webhookd.MaxFileSize || s.MimeType == "" || s.FileID == "" {
			t.Fatalf("session %+v", s)
		}
	})
}

func FuzzParseUploadCommand(f *testing.F) {
	f.Add("upload, finalize")
	f.Add("query")
	f.Fuzz(func(t *testing.T, header string) {
		c, err := lro.ParseUploadCommand(header)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if c == (lro.UploadCommand{}) {
			t.Fatalf("%q accepted as no command", header)
		}
	})
}

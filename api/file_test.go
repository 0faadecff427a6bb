package api

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func uploadStartOf(length, ctype string) func(*object) (lro.UploadStart, error) {
	return func(o *object) (lro.UploadStart, error) { return parseUploadStart(o, length, ctype) }
}

func TestParseUploadStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, length, ctype string
		want                      lro.UploadStart
	}{
		{name: "SDK start", body: `{"file":{"displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"12"}}`, length: "12", ctype: "application/jsonl",
			want: lro.UploadStart{DisplayName: "in.jsonl", MimeType: "application/jsonl", DeclaredSize: 12}},
		{name: "chosen name, snake_case", body: `{"file":{"name":"files/my-input","display_name":"x","mime_type":"text/plain"}}`,
			want: lro.UploadStart{FileID: "files/my-input", DisplayName: "x", MimeType: "text/plain", DeclaredSize: -1}},
		{name: "headers only", body: `{}`, length: "7", ctype: "image/png", want: lro.UploadStart{MimeType: "image/png", DeclaredSize: 7}},
		{name: "size from the body as a number", body: `{"file":{"sizeBytes":5,"createTime":"x"}}`, want: lro.UploadStart{DeclaredSize: 5}},
	}
	for _, tt := range tests {
		got, err := parseOrErr(tt.body, uploadStartSchema, uploadStartOf(tt.length, tt.ctype))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct{ body, length, field, text string }{
		{`{"file":[]}`, "", "file", "must be a JSON object"},
		{`{"file":{"name":"other/x"}}`, "", "file.name", "files/{id}"},
		{`{"file":{"sizeBytes":"many"}}`, "", "file.size_bytes", "(sent as file.sizeBytes)"},
		{`{"file":{"sizeBytes":{}}}`, "", "file.size_bytes", "must be a number of bytes"},
		{`{}`, "-1", HeaderUploadContentLength, "must be a number of bytes"},
		{`{"file":{"displayName":7}}`, "", "file.display_name", "(sent as file.displayName)"},
		{`{"file":{"mimeType":"a\nb"}}`, "", "file.mime_type", "must be a media type"},
	} {
		_, err := parseOrErr(tt.body, uploadStartSchema, uploadStartOf(tt.length, ""))
		requireFieldError(t, err, tt.field, tt.text)
	}
	if _, err := parseOrErr(`{}`, uploadStartSchema, uploadStartOf("99999999999", "")); webhookd.ErrorCode(err) != webhookd.ETOOLARGE {
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
		got, err := parseUploadCommand(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseUploadCommand(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			requireFieldError(t, err, HeaderUploadCommand, "must be upload, finalize, query or cancel")
		}
	}
	for in, want := range map[string]int64{"": -1, " 12 ": 12, "0": 0} {
		if got, err := parseUploadOffset(in); err != nil || got != want {
			t.Errorf("parseUploadOffset(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-1", "1.5"} {
		_, err := parseUploadOffset(in)
		requireFieldError(t, err, HeaderUploadOffset, "byte offset")
	}
}

func TestRenderFileAndURLs(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
	f := webhookd.NewFile("prj_1", "in.jsonl", "application/jsonl", webhookd.FileUploaded, []byte("abc"), t0)
	exp := t0.Add(48 * time.Hour)
	f.ExpireTime = &exp
	jsonEqual(t, rendered(t)(s.renderFile(f), nil), `{"name":"files/`+f.ID+`","displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"3",
		"createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z","expirationTime":"2026-11-22T10:00:00Z",
		"sha256Hash":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
		"uri":"`+baseURL+`/v1/files/`+f.ID+`","downloadUri":"`+baseURL+`/v1/files/`+f.ID+`:download?alt=media",
		"state":"ACTIVE","source":"UPLOADED"}`)
	if got, want := s.uploadURL("upl_a b"), baseURL+"/upload/v1/files?upload_id=upl_a+b"; got != want {
		t.Errorf("uploadURL = %s, want %s", got, want)
	}
}

func FuzzParseUploadStart(f *testing.F) {
	f.Add(`{"file":{"displayName":"in.jsonl","mimeType":"application/jsonl","sizeBytes":"12"}}`, "12", "application/jsonl")
	f.Add(`{"file":{"name":"files/x","size_bytes":3}}`, "", "")
	f.Fuzz(func(t *testing.T, body, length, ctype string) {
		start, err := parseOrErr(body, uploadStartSchema, uploadStartOf(length, ctype))
		if err != nil {
			checkRejection(t, err)
			return
		}
		s := lro.NewUploadSession("prj_1", start, t0)
		if s.DeclaredSize < -1 || s.DeclaredSize > webhookd.MaxFileSize || s.MimeType == "" || s.FileID == "" {
			t.Fatalf("session %+v", s)
		}
	})
}

func FuzzParseUploadCommand(f *testing.F) {
	f.Add("upload, finalize")
	f.Add("query")
	f.Fuzz(func(t *testing.T, header string) {
		c, err := parseUploadCommand(header)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if c == (lro.UploadCommand{}) {
			t.Fatalf("%q accepted as no command", header)
		}
	})
}

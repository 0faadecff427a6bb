package lro_test

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestNewUploadSession(t *testing.T) {
	t.Parallel()
	s := lro.NewUploadSession("prj_1", lro.UploadStart{DisplayName: "in.jsonl", DeclaredSize: -1}, t0)
	if !strings.HasPrefix(s.ID, lro.PrefixUpload) || !strings.HasPrefix(s.FileID, webhookd.PrefixFile) || s.ProjectID != "prj_1" ||
		s.DisplayName != "in.jsonl" || s.MimeType != "application/octet-stream" || s.DeclaredSize != -1 ||
		!s.CreateTime.Equal(t0) || !s.ExpireTime.Equal(t0.Add(webhookd.UploadSessionTTL)) {
		t.Errorf("session %+v", s)
	}
	s = lro.NewUploadSession("prj_1", lro.UploadStart{FileID: "files/my-input", MimeType: "text/plain", DeclaredSize: 7}, t0)
	if s.FileID != "my-input" || s.MimeType != "text/plain" || s.DeclaredSize != 7 {
		t.Errorf("session %+v", s)
	}
}

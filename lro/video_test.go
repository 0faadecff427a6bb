package lro_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestVideoGeneration(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{SimJobDuration: 10 * time.Second})
	req := *aCat
	req.WebhookConfig = &webhookd.WebhookConfig{URIs: []string{"https://example.test/v"}, UserMetadata: json.RawMessage(`{"clip":7}`)}
	op, err := m.NewVideo("prj_1", &req, t0)
	if err != nil {
		t.Fatal(err)
	}
	end := t0.Add(10 * time.Second)
	if op.State != webhookd.VideoRunning || op.Version != 1 || !op.NextStepTime.Equal(end) || op.Kind != webhookd.OperationVideo {
		t.Fatalf("NewVideo = %+v", op)
	}
	name := "models/veo-3.0-generate-001/operations/" + op.ID
	if res, err := lro.VideoOf(op); res != nil || err != nil {
		t.Fatalf("a running video's result: %+v, %v", res, err)
	}

	c, err := m.StepVideo(op, end)
	if err != nil {
		t.Fatal(err)
	}
	done := updated(t, c, op, end)
	if done.State != webhookd.VideoDone || len(c.Files) != 1 {
		t.Fatalf("state %s, %d files", done.State, len(c.Files))
	}
	f := c.Files[0]
	if f.MimeType != "video/mp4" || f.Source != webhookd.FileGenerated || !bytes.Equal(f.Content[4:8], []byte("ftyp")) || !bytes.Contains(f.Content, []byte("a cat")) {
		t.Errorf("video file %+v", f)
	}
	uri := baseURL + "/v1/files/" + f.ID + ":download?alt=media"
	ev := oneEvent(t, c)
	if ev.Type != webhookd.EventVideoGenerated || !ev.WebhookConfig.Dynamic() || ev.Source != "operation:"+name {
		t.Errorf("event %+v", ev)
	}
	jsonEqual(t, ev.Data, `{"id":"`+op.ID+`","file_id":"`+f.ID+`","video_uri":"`+uri+`","user_metadata":{"clip":7}}`)
	if res, err := lro.VideoOf(done); err != nil || res.FileID != f.ID {
		t.Errorf("VideoOf = %+v, %v; want file %s", res, err, f.ID)
	}
	again, err := m.StepVideo(done, end.Add(time.Second))
	if err != nil || len(again.Events) != 0 || len(again.Files) != 0 || again.Update[0].NextStepTime != nil {
		t.Errorf("step of a done video: %+v %v", again, err)
	}
}

// TestOutputFilesExpire: a job's output file expires OutputRetention after
// it is written (the default: lro.DefaultOutputRetention), or never with
// lro.KeepOutputs.
func TestOutputFilesExpire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retention time.Duration
		want      time.Duration // 0: no ExpireTime
	}{
		{0, lro.DefaultOutputRetention},
		{time.Hour, time.Hour},
		{lro.KeepOutputs, 0},
	} {
		m := newMachine(t, lro.Config{SimJobDuration: time.Second, OutputRetention: tc.retention})
		op, err := m.NewVideo("prj_1", aCat, t0)
		if err != nil {
			t.Fatal(err)
		}
		end := t0.Add(time.Second)
		c, err := m.StepVideo(op, end)
		if err != nil || len(c.Files) != 1 {
			t.Fatalf("StepVideo: %d files, %v", len(c.Files), err)
		}
		got := c.Files[0].ExpireTime
		switch {
		case tc.want == 0 && got != nil:
			t.Errorf("OutputRetention %v: the output expires at %v, want never", tc.retention, got)
		case tc.want != 0 && (got == nil || !got.Equal(end.Add(tc.want))):
			t.Errorf("OutputRetention %v: the output expires at %v, want %v", tc.retention, got, end.Add(tc.want))
		}
	}
}

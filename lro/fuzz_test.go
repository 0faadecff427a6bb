package lro_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// FuzzBatchInputFile runs a file batch over arbitrary input files: every
// non-blank line is answered exactly once, in order.
func FuzzBatchInputFile(f *testing.F) {
	f.Add([]byte(`{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}` + "\n\nnot json\n" + `{"contents":[{"parts":[{"text":"x"}]}]}`))
	f.Add([]byte("\r\n{}\r\n[]\r\n"))
	f.Add([]byte(`{"key":1,"request":{"contents":[{"parts":[{"text":"\u2028"}]}]}}`))
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		op, err := m.NewBatch("prj_1", fileReq, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.StepBatch(op, lro.BatchInput{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err = m.StepBatch(c.Update[0], lro.BatchInput{File: content}, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for line := range bytes.Lines(content) {
			if len(bytes.TrimSpace(line)) > 0 {
				want++
			}
		}
		if want == 0 {
			if c.Update[0].State != webhookd.BatchFailed {
				t.Fatalf("empty input ended %s", c.Update[0].State)
			}
			return
		}
		out := c.Files[0].Content
		if got := bytes.Count(out, []byte("\n")); got != want {
			t.Fatalf("%d result lines for %d input lines:\n%s", got, want, out)
		}
		for line := range bytes.Lines(out) {
			if !json.Valid(line) {
				t.Fatalf("result line is not JSON: %q", line)
			}
		}
	})
}

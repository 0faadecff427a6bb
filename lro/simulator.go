package lro

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/webhookd/webhookd"
)

// Runner advances operations whose NextStepTime came due. The Simulator is
// the built-in one; a real job runner replaces it by implementing Step.
//
// Step returns the change to commit for op (which the Driver claimed, so op
// carries the claim's Version). It must not write anything itself: the
// Driver commits the change, so that the state change and its events are
// one transaction. An error means "try again later" (op is stepped again
// when its lease ends); a job that fails is a change to a failed state, not
// an error.
//
// A replacement runner owns the whole state machine of what it runs,
// batch expiry included; the Machine's Step and Cancel functions are there
// to build its changes with the exact events and renderings.
type Runner interface {
	Step(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error)
}

// FileReader reads the content of a project's file. OperationStore
// implements it.
type FileReader = webhookd.FileContentReader

// Simulator is the deterministic built-in Runner: it runs the state machines
// of Machine with the echo model, reading batch input files from files.
type Simulator struct {
	m     *Machine
	files FileReader
	clock webhookd.Clock
}

// NewSimulator returns a Simulator. clock is the time of every transition.
func NewSimulator(m *Machine, files FileReader, clock webhookd.Clock) *Simulator {
	return &Simulator{m: m, files: files, clock: clock}
}

var _ Runner = (*Simulator)(nil)

// Step implements Runner.
func (s *Simulator) Step(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error) {
	now := s.clock.Now()
	switch op.Kind {
	case webhookd.OperationBatch:
		var in BatchInput
		expired := op.ExpireTime != nil && !now.Before(*op.ExpireTime)
		if op.State == webhookd.BatchRunning && !expired {
			var req BatchRequest
			if err := json.Unmarshal(op.Request, &req); err != nil {
				return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s request: %w", op.ID, err)
			}
			if req.FileName != "" {
				in.File, in.FileErr = webhookd.ReadFileContent(ctx, s.files, op.ProjectID, req.InputFileID())
				if in.FileErr != nil && webhookd.ErrorCode(in.FileErr) == webhookd.EINTERNAL {
					return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s: read input %s: %w", op.ID, req.FileName, in.FileErr)
				}
			}
		}
		return s.m.StepBatch(op, in, now)
	case webhookd.OperationInteraction:
		return s.m.StepInteraction(op, now)
	case webhookd.OperationVideo:
		return s.m.StepVideo(op, now)
	}
	return webhookd.OperationChange{}, fmt.Errorf("lro: operation %s has unknown kind %q", op.ID, op.Kind)
}

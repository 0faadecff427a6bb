package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the binary that buildBinary built for the process tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

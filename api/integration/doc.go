// Package integration tests package api end to end: the official Go SDK and
// plain HTTP against the API on loopback, over the real SQLite store with a
// fake clock.
//
// It holds only tests. They live apart from package api so that api's fuzz
// targets build without SQLite: coverage-guided fuzzing instruments every
// package of the test binary, and the SQLite engine's size slows each
// execution by two orders of magnitude.
package integration

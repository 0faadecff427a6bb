// Package lrotest holds MemStore, the in-memory reference
// webhookd.OperationStore: it passes the operations conformance suite
// (storetest.RunOperations) that the SQL stores pass within storetest.Run,
// and stands in for a store in the tests of lro.
package lrotest

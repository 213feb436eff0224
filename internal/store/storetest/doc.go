// Package storetest is the conformance suite every store.Store
// implementation must pass: run Run from the implementation's own tests
// with a function that opens (and re-opens) a store on the same backing
// state.
package storetest

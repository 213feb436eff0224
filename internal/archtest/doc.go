// Package archtest holds the test that keeps tandem's package dependencies
// flowing the one way docs/architecture.md describes.
package archtest

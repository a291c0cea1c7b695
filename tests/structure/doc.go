// Package structure holds the tests that keep the repository's shape: which
// packages a Lambda links, the one-way layering of lib/, the size and
// complexity of functions and files, and that every document a comment
// names exists. It has no non-test code.
package structure

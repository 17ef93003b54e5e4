package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSelfCommand(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "bin", "torfs")
	other := filepath.Join(dir, "other", "torfs")
	for _, p := range []string{self, other} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := func() (string, error) { return self, nil }
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	found := func(p string) func(string) (string, error) {
		return func(string) (string, error) { return p, nil }
	}
	for _, tc := range []struct {
		name string
		look func(string) (string, error)
		want string
	}{
		{"not on the PATH", notFound, self},
		{"this binary on the PATH", found(self), "torfs"},
		{"another torfs on the PATH", found(other), self},
	} {
		if got := selfCommand(exe, tc.look); got != tc.want {
			t.Errorf("%s: selfCommand = %q, want %q", tc.name, got, tc.want)
		}
	}
}

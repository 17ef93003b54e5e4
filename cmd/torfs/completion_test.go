package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// completionScript returns torfs completion SHELL's output.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"completion", shell}, &out, &errOut); code != 0 {
		t.Fatalf("torfs completion %s: exit %d: %s", shell, code, errOut.String())
	}
	return out.String()
}

func TestCompletionSpecsAreTheRealFlags(t *testing.T) {
	specs := completionSpecs(commands())
	find := func(cmd, fl string) *flagSpec {
		for _, s := range specs {
			if s.name == cmd {
				for i := range s.flags {
					if s.flags[i].name == fl {
						return &s.flags[i]
					}
				}
			}
		}
		return nil
	}
	for _, c := range []struct {
		cmd, flag string
		value     bool
	}{{"mount", "cache-dir", true}, {"mount", "keep", false}, {"mount", "o", true}, {"get", "only", true}, {"get", "seed", false}, {"umount", "timeout", true}, {"status", "json", false}} {
		f := find(c.cmd, c.flag)
		if f == nil {
			t.Errorf("torfs %s has no flag %s in the completion specs", c.cmd, c.flag)
			continue
		}
		if f.value != c.value {
			t.Errorf("torfs %s %s: takes a value %v, want %v", c.cmd, f.dashed(), f.value, c.value)
		}
	}
	if f := find("get", "only"); f != nil && !strings.Contains(f.doc, "download only the files matching GLOB") {
		t.Errorf("get --only is described as %q, not by its --help line", f.doc)
	}
	for _, c := range commands() {
		if len(commandFlags(c)) == 0 && c.name != "completion" {
			t.Errorf("torfs %s: no flags found", c.name)
		}
	}
}

// TestBashCompletion runs the bash script as bash would on TAB.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "torfs.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
			itoa(len(words)-1) + "; _torfs; echo \"${COMPREPLY[*]}\""
		out, err := exec.CommandContext(ctx, bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("torfs", "u"); got != "umount" {
		t.Errorf("torfs u<TAB> = %q, want umount", got)
	}
	if got := complete("torfs", "get", "--ex"); got != "--exclude" {
		t.Errorf("torfs get --ex<TAB> = %q, want --exclude", got)
	}
	if got := complete("torfs", "mount", "--cache-dir", ""); got != "" {
		t.Errorf("torfs mount --cache-dir <TAB> = %q, want nothing (file names)", got)
	}
	if got := complete("torfs", "help", "--m"); got != "--man" {
		t.Errorf("torfs help --m<TAB> = %q, want --man", got)
	}
}

// TestOtherShellsCompletion checks the zsh and fish scripts parse, where
// those shells are installed.
func TestOtherShellsCompletion(t *testing.T) {
	for _, shell := range []string{"zsh", "fish"} {
		script := completionScript(t, shell)
		if !strings.Contains(script, "umount") || !strings.Contains(script, "cache-dir") {
			t.Errorf("the %s script lacks commands or flags", shell)
		}
		bin, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s is not installed: its script is not parsed", shell)
			continue
		}
		path := filepath.Join(t.TempDir(), "torfs."+shell)
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v: %s", shell, err, out)
		}
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"completion", "tcsh"}, io.Discard, &errOut); code != 2 {
		t.Errorf("torfs completion tcsh: exit %d, want 2", code)
	}
}

// TestManPage renders torfs help --man with man (or groff) when present:
// no warning, and every command has its section.
func TestManPage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help", "--man"}, &out, io.Discard); code != 0 {
		t.Fatalf("torfs help --man: exit %d", code)
	}
	page := out.String()
	for _, c := range commands() {
		if !strings.Contains(page, ".SS torfs "+c.name+"\n") {
			t.Errorf("the man page has no section for torfs %s", c.name)
		}
	}
	path := filepath.Join(t.TempDir(), "torfs.1")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		if msg, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", path).CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff warns: %v: %s", err, msg)
		}
	}
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("no man to render the page with")
	}
	cmd := exec.Command(man, "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	text, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l: %v", err)
	}
	if !strings.Contains(string(text), "torfs umount") || !strings.Contains(string(text), "--seed-ratio") {
		t.Errorf("man -l renders:\n%s", text)
	}
}

func TestManEscape(t *testing.T) {
	var b bytes.Buffer
	writeMan(&b, []*command{{name: "x", usage: ".start\n'quote\nback\\slash -flag\n"}}, debug.ReadBuildInfo)
	for _, want := range []string{"\\&.start\n", "\\&'quote\n", "back\\eslash \\-flag\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the page lacks %q:\n%s", want, b.String())
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

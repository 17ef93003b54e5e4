package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/torfs/torfs/mount"
)

// shellWords splits one shell command line into words and the operators
// between commands (&&, ||, |, ;, &), as sh would for the simple lines of
// a help text: quotes, $(...), and a # comment at the start of a word.
func shellWords(line string) []string {
	var out []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			out = append(out, w.String())
		}
		w.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				w.WriteByte(line[i])
			}
			inWord = true
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			j := strings.IndexByte(line[i:], ')')
			if j < 0 {
				j = len(line) - i - 1
			}
			w.WriteString(line[i : i+j+1])
			i += j
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return out
		case c == '&' || c == '|' || c == ';':
			flush()
			op := string(c)
			if (c == '&' || c == '|') && i+1 < len(line) && line[i+1] == c {
				op += string(c)
				i++
			}
			out = append(out, op)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return out
}

func isOperator(w string) bool {
	switch w {
	case "&&", "||", "|", ";", "&":
		return true
	}
	return false
}

// torfsCall is one torfs invocation found in a command line, and the
// operator that follows it ("" at the end of the line).
type torfsCall struct {
	args []string // after "torfs"
	next string
}

// torfsCalls finds the torfs invocations of a command line: a command
// whose first word is torfs, or which runs torfs (watch -n1 torfs ...).
// The file system type torfs is none: an fstab line, or mount -t torfs
// (mountHelperLine checks those).
func torfsCalls(line string) []torfsCall {
	var calls []torfsCall
	words := shellWords(line)
	if _, ok := fstabLine(words); ok {
		return nil
	}
	for i := 0; i < len(words); {
		j := i
		for j < len(words) && !isOperator(words[j]) {
			j++
		}
		cmd := words[i:j]
		for k, w := range cmd {
			if w == "torfs" && (k == 0 || cmd[k-1] != "-t" && cmd[k-1] != "--types") {
				c := torfsCall{args: cmd[k+1:]}
				if j < len(words) {
					c.next = words[j]
				}
				calls = append(calls, c)
				break
			}
		}
		i = j + 1
	}
	return calls
}

// helpExamples returns the command lines of a help text's Examples
// section, continuation lines (ending in \) joined.
func helpExamples(usage string) []string {
	_, ex, ok := strings.Cut(usage, "\nExamples:\n")
	if !ok {
		return nil
	}
	var lines []string
	cont := false
	for _, l := range strings.Split(ex, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if cont {
			lines[len(lines)-1] += " " + l
		} else {
			lines = append(lines, l)
		}
		cont = strings.HasSuffix(l, "\\")
		if cont {
			lines[len(lines)-1] = strings.TrimSuffix(lines[len(lines)-1], "\\")
		}
	}
	return lines
}

// checkParses parses args with the real flag set of their command:
// "-h" after them makes every command stop right after parsing (flags
// may follow positional arguments), so nothing runs.
func checkParses(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: torfs without a command", where)
		return
	}
	if args[0] == "--version" || args[0] == "version" {
		return
	}
	if args[0] == "help" {
		// torfs help [--man | COMMAND]
		if len(args) > 2 || len(args) == 2 && args[1] != "--man" && find(commands(), args[1]) == nil {
			t.Errorf("%s: torfs %s: want help, help --man or help COMMAND", where, strings.Join(args, " "))
		}
		return
	}
	c := find(commands(), args[0])
	if c == nil {
		t.Errorf("%s: unknown command %q", where, args[0])
		return
	}
	if last := args[len(args)-1]; len(args) > 1 && strings.HasPrefix(last, "-") && !isBoolFlag(c, strings.TrimLeft(last, "-")) {
		// "-h" would be taken as its value, and the command would run.
		t.Errorf("%s: ends with the flag %s without its value", where, last)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rest := append(append([]string{}, args[1:]...), "-h")
	if err := c.run(ctx, rest, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("%s: torfs %s does not parse: %v", where, strings.Join(args, " "), err)
	}
}

// isBoolFlag reports whether fl is a boolean flag of c (or not one at
// all): only a boolean flag rejects the value "maybe" as not a boolean.
func isBoolFlag(c *command, fl string) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.run(ctx, []string{"--" + fl + "=maybe", "-h"}, io.Discard, io.Discard)
	return err != nil && (strings.Contains(err.Error(), "invalid boolean value") || strings.Contains(err.Error(), "not defined"))
}

// hasFlag reports whether command name has the flag: "--flag=1 -h"
// fails to parse only when the flag is not defined.
func hasFlag(name, fl string) bool {
	c := find(commands(), name)
	if c == nil {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.run(ctx, []string{"--" + fl + "=1", "-h"}, io.Discard, io.Discard)
	return err == nil || !strings.Contains(err.Error(), "flag provided but not defined")
}

// neverReturns reports whether a torfs invocation runs until it is
// interrupted, so a command chained after it with && or ; never runs.
func neverReturns(args []string) bool {
	has := func(f string) bool {
		for _, a := range args {
			if a == f || a == "-"+f || a == "--"+f {
				return true
			}
		}
		return false
	}
	switch args[0] {
	case "mount":
		return !has("daemon")
	case "tracker", "serve":
		return true
	case "seed":
		return !has("seed-ratio") && !has("seed-time")
	case "demo":
		return !has("check")
	case "get":
		return has("seed")
	}
	return false
}

// TestHelpExamplesParse checks every example of every --help against the
// real flag sets, and that no example chains a command after one that
// never returns.
func TestHelpExamplesParse(t *testing.T) {
	for _, c := range commands() {
		ex := helpExamples(c.usage)
		if len(ex) == 0 {
			t.Errorf("torfs %s --help has no examples", c.name)
		}
		for _, line := range ex {
			for _, call := range torfsCalls(line) {
				where := "torfs " + c.name + " --help example " + line
				checkParses(t, where, call.args)
				if len(call.args) > 0 && neverReturns(call.args) && (call.next == "&&" || call.next == ";" || call.next == "||") {
					t.Errorf("%s: torfs %s runs until interrupted, so what follows %s never runs", where, call.args[0], call.next)
				}
			}
		}
	}
}

var (
	flagMention  = regexp.MustCompile(`(?:^|[\s(\x60'"\[])--([a-z][a-z0-9-]*[a-z0-9])`)
	torfsMention = regexp.MustCompile(`torfs ([a-z]+)\b`)
)

// TestHelpFlagsExist checks that every --flag a help text names is a
// flag of its command, or, after "torfs OTHER" on the same line, of
// OTHER.
func TestHelpFlagsExist(t *testing.T) {
	for _, c := range commands() {
		for _, line := range strings.Split(c.usage, "\n") {
			name := c.name
			prefix := line
			if m := torfsMention.FindStringSubmatchIndex(line); m != nil && find(commands(), line[m[2]:m[3]]) != nil {
				// Flags before the mention are this command's;
				// after it, the other command's.
				prefix = line[:m[0]]
				mention := line[m[1]:]
				if end := strings.IndexAny(mention, ");,.'\x60"); end >= 0 {
					// The mention ends with its parenthesis or clause.
					mention = mention[:end]
				}
				for _, f := range flagMention.FindAllStringSubmatch(mention, -1) {
					if !hasFlag(line[m[2]:m[3]], f[1]) {
						t.Errorf("torfs %s --help names torfs %s --%s, which does not exist: %q", c.name, line[m[2]:m[3]], f[1], line)
					}
				}
			}
			for _, f := range flagMention.FindAllStringSubmatch(prefix, -1) {
				if f[1] == "help" {
					continue
				}
				if !hasFlag(name, f[1]) {
					t.Errorf("torfs %s --help names --%s, which it does not have: %q", c.name, f[1], line)
				}
			}
		}
	}
}

// TestHelpMagnetOnlyWhereTaken checks that commands which join a swarm
// but take no magnet link do not speak of magnet links.
func TestHelpMagnetOnlyWhereTaken(t *testing.T) {
	for _, c := range commands() {
		if !hasFlag(c.name, "no-dht") {
			continue
		}
		synopsis, _, _ := strings.Cut(c.usage, "\n")
		if !strings.Contains(synopsis, "MAGNET") && strings.Contains(strings.ToLower(c.usage), "magnet") {
			t.Errorf("torfs %s takes no magnet link, but its --help speaks of magnets", c.name)
		}
	}
}

// TestREADMECommandsParse checks the torfs command lines of the README:
// its indented code blocks, and the `torfs ...` spans of its text that
// are not synopses (no [optional] parts). In a code block, a command
// that never returns must run in the background (&) or be the block's
// last line, or the lines after it would never run.
func TestREADMECommandsParse(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(readme), "\n")
	n := 0
	for i, line := range lines {
		if !strings.HasPrefix(line, "    ") {
			continue
		}
		for _, call := range torfsCalls(line) {
			n++
			where := "README line " + strconv.Itoa(i+1)
			checkParses(t, where, call.args)
			lastInBlock := i+1 == len(lines) || !strings.HasPrefix(lines[i+1], "    ")
			if len(call.args) > 0 && neverReturns(call.args) && call.next != "&" && !lastInBlock {
				t.Errorf("%s: torfs %s runs until interrupted, so the lines after it never run: %q", where, call.args[0], line)
			}
		}
	}
	for i, line := range lines {
		for _, m := range regexp.MustCompile("`(torfs [^`]*)`").FindAllStringSubmatch(line, -1) {
			if strings.ContainsAny(m[1], "[|") || strings.Contains(m[1], "...") && !strings.Contains(m[1], "'") {
				continue
			}
			n++
			for _, call := range torfsCalls(m[1]) {
				args := call.args
				if len(args) == 1 {
					continue // a command's name
				}
				if find(commands(), args[0]) != nil && len(args) > 0 && strings.ToUpper(args[len(args)-1]) == args[len(args)-1] && !strings.HasPrefix(args[len(args)-1], "-") {
					// torfs status MOUNTPOINT: a placeholder argument.
					args = append(append([]string{}, args[:len(args)-1]...), "X")
				}
				checkParses(t, "README line "+strconv.Itoa(i+1), args)
			}
		}
	}
	if n < 5 {
		t.Errorf("found only %d torfs command lines in the README", n)
	}
}

func TestShellWords(t *testing.T) {
	got := shellWords(`torfs get -o ~/d 'magnet:?a&b' && mpv "x y" $(pidof torfs) # comment`)
	want := []string{"torfs", "get", "-o", "~/d", "magnet:?a&b", "&&", "mpv", "x y", "$(pidof torfs)"}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
}

// TestREADMEListsStatusKeys checks that the README documents every key of
// torfs status --json.
func TestREADMEListsStatusKeys(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(readme), "`torfs status --json MOUNTPOINT`")
	if !ok {
		t.Fatal("the README does not describe torfs status --json MOUNTPOINT")
	}
	doc, _, _ = strings.Cut(doc, "\n\n")
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Slice || ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct {
			return
		}
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("the README's torfs status --json paragraph does not name the key %s (%s.%s)", name, ty.Name(), f.Name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[mount.Status]())
}

// TestREADMEExampleOfEveryCommand checks that the README's code blocks
// run every command at least once.
func TestREADMEExampleOfEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "    ") {
			continue
		}
		for _, call := range torfsCalls(line) {
			if len(call.args) > 0 {
				seen[call.args[0]] = true
			}
		}
	}
	for _, c := range commands() {
		if !seen[c.name] {
			t.Errorf("no code block of the README runs torfs %s", c.name)
		}
	}
}

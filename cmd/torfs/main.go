// Command torfs mounts torrents as read-only directories, downloads and
// seeds them, runs a BitTorrent tracker and creates .torrent files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
)

// command is one torfs subcommand. run gets the arguments after the
// command name; it returns a usageError for bad usage (exit 2) and any
// other error for a failure the user can act on (exit 1).
type command struct {
	name    string
	summary string
	// usage is the full --help text: synopsis, description, examples.
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []*command {
	return []*command{
		// One line per command, in the order --help lists them.
		mountCommand(),
		serveCommand(),
		statusCommand(),
		listCommand(),
		umountCommand(),
		demoCommand(),
		createCommand(),
		infoCommand(),
		getCommand(),
		seedCommand(),
		trackerCommand(),
		completionCommand(),
	}
}

// usageError reports bad command-line usage; torfs exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if filepath.Base(os.Args[0]) == mountHelperName {
		code = runMountHelper(ctx, os.Args[1:], os.Stdout, os.Stderr)
	} else {
		code = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// run executes one torfs invocation and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 2 && (args[1] == "--man" || args[1] == "-man") {
			writeMan(stdout, cmds, debug.ReadBuildInfo)
			return 0
		}
		if len(args) > 1 {
			if c := find(cmds, args[1]); c != nil {
				fmt.Fprint(stdout, c.usage)
				return 0
			}
		}
		mainUsage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
		return 0
	}
	c := find(cmds, args[0])
	if c == nil {
		fmt.Fprintf(stderr, "torfs: unknown command %q (run 'torfs --help' for the list)\n", args[0])
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, c.usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "torfs %s: %v\nrun 'torfs %s --help' for usage\n", c.name, err, c.name)
		return 2
	default:
		fmt.Fprintf(stderr, "torfs %s: %s\n", c.name, userMessage(err))
		return 1
	}
}

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage(w io.Writer, cmds []*command) {
	fmt.Fprint(w, "torfs mounts torrents as read-only directories, downloads and seeds them,\n"+
		"runs a BitTorrent tracker and creates .torrent files.\n\n"+
		"Usage: torfs COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'torfs COMMAND --help' for a command's flags and examples,\n"+
		"'torfs --version' for the version this binary was built from,\n"+
		"'torfs help --man' for all of it as a man page.\n")
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints nothing itself: run prints usage and errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors. Flags may
// come before or after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpRequest{fs}
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// helpRequest is flag.ErrHelp carrying the flag set that saw -h, so that
// the shell completions list a command's real flags (completion.go).
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return flag.ErrHelp.Error() }
func (h helpRequest) Unwrap() error { return flag.ErrHelp }

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// userMessage is err's message without the package names its wrapped
// parts carry from inside torfs ("cache: creating directory ..."): they
// mean nothing to the user.
func userMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"cache: ", "fetch: ", "mount: ", "fs: ", "dht: ", "metainfo: ", "wire: "} {
		msg = strings.TrimPrefix(msg, p)
		msg = strings.ReplaceAll(msg, ": "+p, ": ")
	}
	return msg
}

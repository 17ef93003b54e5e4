package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// writeMan writes torfs(1) in man(7) format: the main help and every
// command's --help, as they are, under one heading each.
func writeMan(w io.Writer, cmds []*command, buildInfo func() (*debug.BuildInfo, bool)) {
	version := strings.TrimPrefix(versionLine(buildInfo()), "torfs ")
	fmt.Fprintf(w, ".TH TORFS 1 \"\" \"torfs %s\" \"User Commands\"\n", manEscape(version))
	fmt.Fprint(w, ".SH NAME\ntorfs \\- mount torrents as read-only directories, download and seed them\n")
	fmt.Fprint(w, ".SH SYNOPSIS\n.B torfs\n.I COMMAND\n[flags] [args]\n")
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	var main strings.Builder
	mainUsage(&main, cmds)
	manBlock(w, main.String())
	fmt.Fprint(w, ".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(w, ".SS torfs %s\n", c.name)
		manBlock(w, c.usage)
	}
	fmt.Fprint(w, ".SH EXIT STATUS\n0 success, 1 an error the message explains, 2 bad usage.\n")
	fmt.Fprint(w, ".SH SEE ALSO\n.BR fusermount3 (1),\n.BR mount.fuse3 (8)\n")
}

// manBlock writes text as it is, in a no-fill block: help texts are laid
// out by hand already.
func manBlock(w io.Writer, text string) {
	fmt.Fprint(w, ".nf\n")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintln(w, manEscape(l))
	}
	fmt.Fprint(w, ".fi\n")
}

// manEscape keeps roff from reading text as requests or escapes.
func manEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

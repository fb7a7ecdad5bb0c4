// Command onnxloss exports segmentation losses as ONNX graphs, attaches them
// to exported models, and checks them against Go reference implementations
// in ONNX Runtime.
//
// Run `onnxloss help` for the commands and `onnxloss COMMAND --help` for each
// command's options.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/losses"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // first line of help: arguments
	help    string // paragraphs after the usage line
	flags   []flagDef
	// lossOptions says whether the command takes a loss name and its options.
	lossOptions bool
	run         func(e *env, a *args) error
}

// flagDef is a command's own flag.
type flagDef struct {
	name, value, doc string // value "" marks a boolean flag
	repeat           bool
}

// env carries the streams, so commands are testable.
type env struct {
	stdout, stderr io.Writer
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// failure is a check that ran and failed (for example verify finding a
// mismatch): exit status 1, with the report already printed.
type failure struct{ msg string }

func (e *failure) Error() string { return e.msg }

func main() {
	// An interrupt in the middle of a write leaves the file being replaced
	// as it was; the temporary file goes too.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		if h := interruptHook.Load(); h != nil && s == os.Interrupt {
			// A command that stops cleanly (train) is told once; a second
			// interrupt ends the process.
			(*h)()
			s = <-sigs
		}
		atomicfile.RemoveTemporary()
		code := 130 // 128 + SIGINT, as shells report it
		if s == syscall.SIGTERM {
			code = 143
		}
		os.Exit(code)
	}()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// interruptHook, when set, is called on the first interrupt instead of
// ending the process.
var interruptHook atomic.Pointer[func()]

// run executes one command line and returns the exit status: 0 on success,
// 1 when the work failed, 2 for a usage error.
func run(argv []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(argv) == 0 {
		printMainHelp(stderr)
		return 2
	}
	name := argv[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(argv) > 1 {
			if c := lookupCommand(argv[1]); c != nil {
				printCommandHelp(stdout, c)
				return 0
			}
		}
		printMainHelp(stdout)
		return 0
	}
	if name == "version" || name == "--version" {
		fmt.Fprintf(stdout, "onnxloss %s\n", export.Version)
		return 0
	}
	c := lookupCommand(name)
	if c == nil {
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		msg := fmt.Sprintf("unknown command %q", name)
		if s := losses.Closest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "onnxloss: %s\nRun 'onnxloss help' for the list of commands.\n", msg)
		return 2
	}
	a, err := parseArgs(c, argv[1:])
	if err == nil && a.help {
		printCommandHelp(stdout, c)
		return 0
	}
	if err == nil {
		err = c.run(e, a)
	}
	var ue *usageError
	var oe *losses.OptionError
	var unk *losses.UnknownError
	var f *failure
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue), errors.As(err, &oe), errors.As(err, &unk):
		fmt.Fprintf(stderr, "onnxloss %s: %s\nRun 'onnxloss %s --help' for usage.\n", c.name, escapeControls(err.Error()), c.name)
		return 2
	case errors.As(err, &f):
		if f.msg != "" {
			fmt.Fprintf(stderr, "onnxloss %s: %s\n", c.name, escapeControls(f.msg))
		}
		return 1
	}
	fmt.Fprintf(stderr, "onnxloss %s: %s\n", c.name, escapeControls(err.Error()))
	return 1
}

// args is a parsed command line.
type args struct {
	positional []string
	flags      map[string][]string
	loss       *losses.Spec
	lossOpts   losses.Options
	help       bool
}

func (a *args) flag(name string) (string, bool) {
	v, ok := a.flags[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (a *args) boolFlag(name string) bool {
	v, ok := a.flag(name)
	return ok && v != "false"
}

// parseArgs reads flags (--name value, --name=value, and bare --name for
// booleans) and positional arguments. When the command takes a loss, the
// first positional argument names it, and flags after it may be the loss's
// options; every option is checked, with a suggestion for near misses.
func parseArgs(c *command, argv []string) (*args, error) {
	a := &args{flags: map[string][]string{}, lossOpts: losses.Options{}}
	own := map[string]flagDef{}
	for _, f := range c.flags {
		own[f.name] = f
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			a.positional = append(a.positional, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			a.positional = append(a.positional, arg)
			if c.lossOptions && a.loss == nil && len(a.positional) == 1 {
				s, err := losses.Lookup(arg)
				if err != nil {
					return nil, err
				}
				a.loss = s
			}
			continue
		}
		name := strings.TrimLeft(arg, "-")
		value, hasValue := "", false
		if k := strings.IndexByte(name, '='); k >= 0 {
			name, value, hasValue = name[:k], name[k+1:], true
		}
		if name == "h" || name == "help" {
			a.help = true
			continue
		}
		key := strings.ReplaceAll(name, "_", "-")
		isBool := false
		isLoss := false
		if f, ok := own[key]; ok {
			isBool = f.value == ""
		} else if c.lossOptions {
			if a.loss == nil {
				return nil, usagef("unknown flag --%s (loss options come after the loss name)", key)
			}
			opt := strings.ReplaceAll(key, "-", "_")
			known := false
			for _, n := range a.loss.OptionNames() {
				if n == opt {
					known = true
				}
			}
			if !known {
				var valid []string
				for _, n := range a.loss.OptionNames() {
					valid = append(valid, strings.ReplaceAll(n, "_", "-"))
				}
				for _, f := range c.flags {
					valid = append(valid, f.name)
				}
				msg := fmt.Sprintf("unknown flag --%s for %s", key, a.loss.Name)
				if s := losses.Closest(key, valid); s != "" {
					msg += fmt.Sprintf("; did you mean --%s?", s)
				}
				return nil, usagef("%s", msg)
			}
			isLoss = true
			isBool = isBoolOption(a.loss, opt)
		} else {
			var valid []string
			for _, f := range c.flags {
				valid = append(valid, f.name)
			}
			msg := fmt.Sprintf("unknown flag --%s", key)
			if s := losses.Closest(key, valid); s != "" {
				msg += fmt.Sprintf("; did you mean --%s?", s)
			}
			return nil, usagef("%s", msg)
		}
		if !hasValue {
			switch {
			case isBool && i+1 < len(argv) && (argv[i+1] == "true" || argv[i+1] == "false"):
				value = argv[i+1]
				i++
			case isBool:
				value = "true"
			case i+1 < len(argv):
				value = argv[i+1]
				i++
			default:
				return nil, usagef("flag --%s needs a value", key)
			}
		}
		if isLoss {
			opt := strings.ReplaceAll(key, "-", "_")
			if _, dup := a.lossOpts[opt]; dup {
				return nil, usagef("option --%s given twice (give it once; the last one would otherwise win silently)", key)
			}
			a.lossOpts[opt] = value
			continue
		}
		if len(a.flags[key]) > 0 && !own[key].repeat {
			return nil, usagef("flag --%s given twice", key)
		}
		a.flags[key] = append(a.flags[key], value)
	}
	return a, nil
}

func isBoolOption(s *losses.Spec, opt string) bool {
	switch opt {
	case "from_logits", "grad":
		return true
	}
	if p := s.Param(opt); p != nil {
		return p.Kind == losses.KindBool
	}
	return false
}

// needLoss returns the loss named on the command line, or a usage error.
func needLoss(c string, a *args) (*losses.Spec, error) {
	if a.loss == nil {
		return nil, usagef("name a loss (see 'onnxloss list')")
	}
	if len(a.positional) > 1 {
		return nil, usagef("unexpected argument %q", a.positional[1])
	}
	return a.loss, nil
}

func printMainHelp(w io.Writer) {
	fmt.Fprintf(w, `onnxloss %s: segmentation loss functions as ONNX graphs.

Usage: onnxloss COMMAND [arguments]

Commands:
`, export.Version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'onnxloss COMMAND --help' for a command's options, and
'onnxloss describe LOSS' for a loss's parameters.
Exit status: 0 on success, 1 when the work failed, 2 for a usage error.
`)
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: onnxloss %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
	if len(c.flags) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		for _, f := range c.flags {
			left := "--" + f.name
			if f.value != "" {
				left += " " + f.value
			}
			fmt.Fprintf(w, "  %-24s %s\n", left, f.doc)
		}
	}
	if c.lossOptions {
		fmt.Fprintln(w, "\nLoss options (those a loss accepts; see 'onnxloss describe LOSS' for its own):")
		names := losses.CommonOptionNames()
		for _, n := range names {
			doc, def := losses.CommonOptionDoc(n)
			if n == "grad" && !hasGrad(c) {
				continue
			}
			left := "--" + strings.ReplaceAll(n, "_", "-")
			if def != "" {
				doc += " (default " + def + ")"
			}
			fmt.Fprintf(w, "  %-24s %s\n", left, doc)
		}
	}
}

func hasGrad(c *command) bool { return c.name == "export" || c.name == "append" || c.name == "eval" }

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

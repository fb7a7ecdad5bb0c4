package losses

import (
	"strings"

	"github.com/onnxloss/onnxloss/losses/param"
)

// NormalizeOptionKey returns the canonical form of an option name as Resolve
// reads it: leading dashes dropped, lower case, dashes as underscores, so
// "--Ignore-Index" and "ignore_index" name the same option.
func NormalizeOptionKey(k string) string { return normKey(k) }

// ParseBool reads a boolean option value as Resolve does: true, 1, yes or
// on, and false, 0, no or off, in any case and with surrounding space
// ignored. The error names the option.
func ParseBool(name, v string) (bool, error) { return param.ParseBool(name, strings.TrimSpace(v)) }

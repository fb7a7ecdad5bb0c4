package builder

import (
	"strconv"
	"strings"
)

// Name names v for what it holds ("probs", "intersection", "loss") and
// returns v, so a formula names a quantity where it computes it:
//
//	inter := Name(ReduceSum(Mul(p, t), false, axes...), "intersection")
//
// The name, prefixed by the open scopes ("dice/intersection"), becomes the
// name of the value and of the node that produces it, which is what graph
// viewers such as Netron show. Values left unnamed keep their generated
// names (dice/Mul_0). Names stay unique: a name given twice in the same
// scope gets a suffix (dice/score, dice/score_2).
//
// A value keeps the first name it is given, so a helper that returns its
// operand unchanged cannot rename it. Graph inputs, constants (shared by
// every formula that uses them) and values of the model the graph joins
// (External) keep their names, and so do values made outside the open scope
// (a value the scope only reads is not its to name). A name is letters, digits, '_', '-' and '.';
// anything else is a build error.
func Name(v *Value, name string) *Value {
	if v == nil || v.g == nil || !v.g.check("Name", v) {
		return v
	}
	g := v.g
	if !validName(name) {
		g.Fail("Name: %q is not a valid value name (use letters, digits, '_', '-' and '.')", name)
		return v
	}
	if v.name != "" || v.inputName != "" || v.extName != "" || v.node == nil || v.node.external || v.konst != nil {
		return v
	}
	prefix := g.scopePrefix()
	if !strings.HasPrefix(v.node.name, prefix) {
		return v // made outside the open scope: it is not this scope's to name
	}
	base := prefix + name
	full := base
	for k := 2; g.taken[full]; k++ {
		full = base + "_" + strconv.Itoa(k)
	}
	g.taken[full] = true
	v.name, v.label = full, name
	n := v.node
	if v.index == 0 {
		// The node takes the name of its first output; its other outputs
		// keep names derived from the node's (name_1, name_2, ...).
		n.name = full
		for i := 1; i < len(n.outputs); i++ {
			g.taken[full+"_"+strconv.Itoa(i)] = true
		}
	}
	return v
}

// Doc attaches a doc string to the node that produces v and returns v.
// Graph viewers show it with the node (Netron: the node's description).
// It does nothing for graph inputs, constants and external values.
func Doc(v *Value, doc string) *Value {
	if v == nil || v.g == nil || !v.g.check("Doc", v) {
		return v
	}
	if v.node == nil || v.node.external || v.konst != nil {
		return v
	}
	v.node.doc = doc
	return v
}

// Label returns the name given to v by Name, without its scope, or "".
func (v *Value) Label() string { return v.label }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

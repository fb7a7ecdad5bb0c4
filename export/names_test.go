package export_test

import (
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// graphNames returns the node names of the graph and of the graphs nested
// in its nodes (Loop, Scan and If bodies) and the node that writes each
// value, failing on a node name or a value name defined twice (inputs and
// initializers included) anywhere in the model.
func graphNames(t *testing.T, g *onnxpb.GraphProto) (nodes map[string]*onnxpb.NodeProto, writer map[string]string) {
	t.Helper()
	nodes, writer = map[string]*onnxpb.NodeProto{}, map[string]string{}
	defined := map[string]bool{}
	define := func(name, what string) {
		if defined[name] {
			t.Errorf("value %q defined twice (again by %s)", name, what)
		}
		defined[name] = true
	}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, in := range g.GetInput() {
			if _, isInit := initializerNames(g)[in.GetName()]; !isInit {
				define(in.GetName(), "an input")
			}
		}
		for _, init := range g.GetInitializer() {
			define(init.GetName(), "an initializer")
		}
		for _, n := range g.GetNode() {
			if _, dup := nodes[n.GetName()]; dup && n.GetName() != "" {
				t.Errorf("node name %q used twice", n.GetName())
			}
			nodes[n.GetName()] = n
			for _, o := range n.GetOutput() {
				define(o, "node "+n.GetName())
				writer[o] = n.GetName()
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG())
				}
			}
		}
	}
	walk(g)
	return nodes, writer
}

func initializerNames(g *onnxpb.GraphProto) map[string]bool {
	m := map[string]bool{}
	for _, init := range g.GetInitializer() {
		m[init.GetName()] = true
	}
	return m
}

// TestExportedNamesSayWhatTheyHold checks that the quantities a reader looks
// for in a viewer are values, written by nodes, of those names.
func TestExportedNamesSayWhatTheyHold(t *testing.T) {
	multiclass := losses.Options{"mode": "multiclass", "classes": "3"}
	for _, tc := range []struct {
		loss string
		opts losses.Options
		want []string // values written by a node of the same name
	}{
		{"dice", nil, []string{"dice/probs", "dice/intersection", "dice/cardinality", "dice/numerator",
			"dice/denominator", "dice/score", "dice/class_loss"}},
		{"dice", multiclass, []string{"dice/probs", "dice/target_onehot", "dice/intersection", "dice/cardinality", "dice/score"}},
		{"focal", nil, []string{"focal/bce", "focal/modulating_factor"}},
		{"focal", multiclass, []string{"focal/log_probs", "focal/nll", "focal/modulating_factor", "focal/pixel_loss"}},
		{"cross-entropy", multiclass, []string{"cross-entropy/nll"}},
		{"cross-entropy", losses.Options{"mode": "multiclass", "classes": "3", "ignore_index": "1", "label_smoothing": "0.1"},
			[]string{"cross-entropy/valid_pixels", "cross-entropy/nll", "cross-entropy/weighted_nll",
				"cross-entropy/smoothing_term", "cross-entropy/loss_sum", "cross-entropy/weight_sum"}},
		{"lovasz-softmax", multiclass, []string{"lovasz-softmax/probs", "lovasz-softmax/errors", "lovasz-softmax/sorted_errors",
			"lovasz-softmax/sorted_gt", "lovasz-softmax/jaccard", "lovasz-softmax/lovasz_grad", "lovasz-softmax/lovasz_extension"}},
	} {
		for _, grad := range []bool{false, true} {
			opts := losses.Options{}
			for k, v := range tc.opts {
				opts[k] = v
			}
			if grad {
				opts["grad"] = "true"
			}
			m, _, err := export.Loss(tc.loss, opts)
			if err != nil {
				t.Fatalf("%s %v: %v", tc.loss, opts, err)
			}
			nodes, writer := graphNames(t, m.GetGraph())
			for _, name := range tc.want {
				if w, ok := writer[name]; !ok || w != name {
					t.Errorf("%s %v: value %q written by node %q (present %v), want a node of that name", tc.loss, opts, name, w, ok)
				}
			}
			// The loss is written by the node named for it.
			if w := writer["loss"]; w != tc.loss+"/loss" {
				t.Errorf("%s %v: output loss written by %q, want %s/loss", tc.loss, opts, w, tc.loss)
			}
			if grad {
				var gradNodes int
				for name := range nodes {
					if strings.HasPrefix(name, tc.loss+"/grad/") {
						gradNodes++
					}
				}
				if gradNodes == 0 {
					t.Errorf("%s %v: no node under %s/grad/", tc.loss, opts, tc.loss)
				}
				// The probabilities' cotangent is named after them.
				if strings.HasPrefix(tc.loss, "dice") || strings.HasPrefix(tc.loss, "lovasz") {
					if _, ok := writer[tc.loss+"/grad/probs"]; !ok {
						t.Errorf("%s %v: no value %s/grad/probs", tc.loss, opts, tc.loss)
					}
				}
			}
		}
	}
}

// TestDocNamesLossOptionsAndVersion checks the doc strings of an exported
// loss: the graph's, and the one of the node that writes loss, which
// survives splicing.
func TestDocNamesLossOptionsAndVersion(t *testing.T) {
	m, _, err := export.Loss("dice", losses.Options{"preset": "smp", "mode": "multiclass", "classes": "4"})
	if err != nil {
		t.Fatal(err)
	}
	nodes, writer := graphNames(t, m.GetGraph())
	lossDoc := nodes[writer["loss"]].GetDocString()
	for what, doc := range map[string]string{"graph doc_string": m.GetGraph().GetDocString(), "doc_string of the loss node": lossDoc} {
		for _, want := range []string{"onnxloss " + export.Version, "dice loss", "preset=smp", "mode=multiclass", "classes=4",
			"smooth_nr=0", "intersection=l1", "absent_classes=zero", "reduction=mean"} {
			if !strings.Contains(doc, want) {
				t.Errorf("%s %q lacks %q", what, doc, want)
			}
		}
	}
}

// TestSplicedNamesStayUnique appends losses to a committed model, with and
// without gradients, and checks that every name of the result is defined
// once, that the loss's names keep their meaning under the prefix, and
// that the loss node keeps its doc string.
func TestSplicedNamesStayUnique(t *testing.T) {
	for _, tc := range []struct {
		model, loss string
		opts        losses.Options
		want        []string
	}{
		{"sigmoid_binary", "dice", nil, []string{"onnxloss/dice/probs", "onnxloss/dice/intersection", "onnxloss/dice/score"}},
		{"logsoftmax", "lovasz-softmax", nil, []string{"onnxloss/lovasz-softmax/sorted_errors", "onnxloss/lovasz-softmax/jaccard"}},
		{"logsoftmax", "focal", nil, []string{"onnxloss/focal/modulating_factor"}},
	} {
		for _, grad := range []bool{false, true} {
			opts := losses.Options{}
			for k, v := range tc.opts {
				opts[k] = v
			}
			if grad {
				opts["grad"] = "true"
			}
			lm := loadCommitted(t, tc.model)
			out, rep := mustAppend(t, lm.Proto, export.AppendOptions{Loss: tc.loss, LossOptions: opts})
			nodes, writer := graphNames(t, out.GetGraph())
			for _, name := range tc.want {
				if w, ok := writer[name]; !ok || w != name {
					t.Errorf("%s on %s, grad %v: value %q written by %q (present %v)", tc.loss, tc.model, grad, name, w, ok)
				}
			}
			lossNode := nodes[writer[rep.LossOutput]]
			if lossNode.GetName() != "onnxloss/"+tc.loss+"/loss" || !strings.Contains(lossNode.GetDocString(), tc.loss+" loss") {
				t.Errorf("%s on %s: loss written by %q with doc %q", tc.loss, tc.model, lossNode.GetName(), lossNode.GetDocString())
			}
			if grad {
				found := false
				for name := range nodes {
					found = found || strings.HasPrefix(name, "onnxloss/"+tc.loss+"/grad/")
				}
				if !found {
					t.Errorf("%s on %s: no node under onnxloss/%s/grad/", tc.loss, tc.model, tc.loss)
				}
			}
		}
	}
}

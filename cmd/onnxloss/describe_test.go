package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// shapeOf writes a graph input's shape as describe does: [N,1,H,W].
func shapeOf(vi *onnxpb.ValueInfoProto) string {
	var dims []string
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			dims = append(dims, d.GetDimParam())
		} else {
			dims = append(dims, strconv.FormatInt(d.GetDimValue(), 10))
		}
	}
	return "[" + strings.Join(dims, ",") + "]"
}

// TestDescribeJSONCarriesInputsAndOutputs checks, for every loss and mode,
// that describe --json lists the inputs and outputs of the model export
// writes for that mode (names and shapes, in order), and that the text
// form shows the same entries.
func TestDescribeJSONCarriesInputsAndOutputs(t *testing.T) {
	for _, s := range losses.All() {
		code, out, stderr := cli("describe", s.Name, "--json")
		if code != 0 {
			t.Fatalf("describe %s --json: exit %d: %s", s.Name, code, stderr)
		}
		var d struct {
			Modes []struct {
				Mode            string
				Inputs, Outputs []struct{ Name, DType, Shape, Doc string }
			}
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("describe %s --json: %v", s.Name, err)
		}
		if len(d.Modes) != len(s.Modes) {
			t.Errorf("describe %s --json: %d modes, the loss has %d", s.Name, len(d.Modes), len(s.Modes))
		}
		_, text, _ := cli("describe", s.Name)
		for _, m := range d.Modes {
			m0, _, err := export.Loss(s.Name, losses.Options{"mode": m.Mode})
			if err != nil {
				t.Fatalf("export %s --mode %s: %v", s.Name, m.Mode, err)
			}
			ins, outs := m0.GetGraph().GetInput(), m0.GetGraph().GetOutput()
			if len(m.Inputs) != len(ins) || len(m.Outputs) != len(outs) {
				t.Errorf("%s --mode %s: describe --json lists %d inputs and %d outputs, the model has %d and %d",
					s.Name, m.Mode, len(m.Inputs), len(m.Outputs), len(ins), len(outs))
				continue
			}
			for i, in := range m.Inputs {
				want := shapeOf(ins[i])
				if in.Name != ins[i].GetName() || !strings.HasPrefix(in.Shape, want) || in.DType == "" || in.Doc == "" {
					t.Errorf("%s --mode %s: input %d is %+v in describe --json, %s %s in the model", s.Name, m.Mode, i, in, ins[i].GetName(), want)
				}
				if !strings.Contains(text, "in  "+in.Name) || !strings.Contains(text, in.Shape) {
					t.Errorf("%s: the text form lacks input %s %s", s.Name, in.Name, in.Shape)
				}
			}
			for i, o := range m.Outputs {
				if o.Name != outs[i].GetName() || o.DType != "float32" {
					t.Errorf("%s --mode %s: output %d is %+v in describe --json, %s in the model", s.Name, m.Mode, i, o, outs[i].GetName())
				}
				if !strings.Contains(text, "out "+o.Name) {
					t.Errorf("%s: the text form lacks output %s", s.Name, o.Name)
				}
			}
			if !strings.Contains(text, "--mode "+m.Mode) {
				t.Errorf("%s: the text form lacks mode %s", s.Name, m.Mode)
			}
		}
	}
}

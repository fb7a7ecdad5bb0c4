package export_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// loadCommitted reads one of the committed PyTorch exports.
func loadCommitted(t *testing.T, name string) *export.LoadedModel {
	t.Helper()
	lm, err := export.LoadModel(filepath.Join(modelsDir(t), name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func mustAppend(t *testing.T, m *onnxpb.ModelProto, opts export.AppendOptions) (*onnxpb.ModelProto, *export.AppendReport) {
	t.Helper()
	out, rep, err := export.Append(m, opts)
	if err != nil {
		t.Fatalf("Append(%s): %v", opts.Loss, err)
	}
	return out, rep
}

func hasNote(rep *export.AppendReport, substr string) bool {
	for _, n := range rep.Notes {
		if strings.Contains(n, substr) {
			return true
		}
	}
	return false
}

func save(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := export.Save(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAppendKeepsTheModel checks that the model's own graph survives intact:
// nodes, initializers, inputs, value_info, metadata, other opset domains;
// that duplicate opset imports are merged, the IR version is the larger of
// the two, every added name carries the prefix, the input model is not
// modified, and the same call gives the same bytes.
func TestAppendKeepsTheModel(t *testing.T) {
	m := loadCommitted(t, "logsoftmax").Proto // IR 7, opset 13
	m.IrVersion = proto.Int64(6)
	m.OpsetImport = append(m.OpsetImport,
		&onnxpb.OperatorSetIdProto{Domain: proto.String(""), Version: proto.Int64(13)},
		&onnxpb.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(2)})
	m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String("author"), Value: proto.String("someone")})
	before, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, rep := mustAppend(t, m, export.AppendOptions{Loss: "cross-entropy"})
	if after, _ := export.Marshal(m); !bytes.Equal(before, after) {
		t.Error("Append modified its input model")
	}
	again, _ := mustAppend(t, m, export.AppendOptions{Loss: "cross-entropy"})
	b1, _ := export.Marshal(out)
	b2, _ := export.Marshal(again)
	if !bytes.Equal(b1, b2) {
		t.Error("two identical Appends give different bytes")
	}

	g, og := m.Graph, out.Graph
	for i, n := range g.Node {
		if !proto.Equal(n, og.Node[i]) {
			t.Fatalf("node %d (%s) changed", i, n.GetName())
		}
	}
	if len(og.Initializer) != len(g.Initializer) {
		t.Errorf("%d initializers, want %d", len(og.Initializer), len(g.Initializer))
	}
	for i, x := range g.Initializer {
		if !proto.Equal(x, og.Initializer[i]) {
			t.Errorf("initializer %s changed", x.GetName())
		}
	}
	for i, x := range g.Input {
		if !proto.Equal(x, og.Input[i]) {
			t.Errorf("input %s changed", x.GetName())
		}
	}
	if n := len(og.Input); n != len(g.Input)+1 || og.Input[n-1].GetName() != "target" {
		t.Errorf("inputs %v: want the model's followed by target", names(og.Input))
	}
	if got := names(og.Output); strings.Join(got, ",") != "loss" {
		t.Errorf("outputs %v, want [loss]", got)
	}
	// The dropped output keeps its type as value_info.
	found := false
	for _, v := range og.ValueInfo {
		if v.GetName() == "out" && proto.Equal(v, g.Output[0]) {
			found = true
		}
	}
	if !found {
		t.Error("the model's output is not kept as value_info")
	}
	for _, n := range og.Node[len(g.Node):] {
		if !strings.HasPrefix(n.GetName(), export.DefaultPrefix) {
			t.Errorf("added node %q lacks the prefix", n.GetName())
		}
		for _, o := range n.GetOutput() {
			if o != "loss" && !strings.HasPrefix(o, export.DefaultPrefix) {
				t.Errorf("added value %q lacks the prefix", o)
			}
		}
	}
	var opsets []string
	for _, o := range out.OpsetImport {
		opsets = append(opsets, o.GetDomain()+":"+itoa(int(o.GetVersion())))
	}
	if strings.Join(opsets, ",") != ":13,com.example:2" {
		t.Errorf("opset imports %v, want the default domain once and com.example kept", opsets)
	}
	if out.GetIrVersion() != 7 || rep.IRVersion != 7 {
		t.Errorf("IR version %d (report %d); want 7, what opset 13 needs", out.GetIrVersion(), rep.IRVersion)
	}
	meta := map[string]string{}
	for _, kv := range out.MetadataProps {
		meta[kv.GetKey()] = kv.GetValue()
	}
	if meta["author"] != "someone" || meta["onnxloss.loss"] != "cross-entropy" || meta["onnxloss.mode"] != "multiclass" ||
		!strings.Contains(meta["onnxloss.params"], `"classes":4`) || !strings.Contains(meta["onnxloss.splice"], `"attached_to":"/model/model.3/Conv_output_0"`) {
		t.Errorf("metadata %v", meta)
	}
	if out.GetProducerName() != "pytorch" {
		t.Errorf("producer %q: the model's producer should stay", out.GetProducerName())
	}
	if err := export.Check(out); err != nil {
		t.Error(err)
	}

	// A model with IR 9 keeps it: the larger version wins.
	m.IrVersion = proto.Int64(9)
	out9, _ := mustAppend(t, m, export.AppendOptions{Loss: "cross-entropy"})
	if out9.GetIrVersion() != 9 {
		t.Errorf("IR %d, want 9", out9.GetIrVersion())
	}
	// A conflicting duplicate import is an error.
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("ai.onnx"), Version: proto.Int64(17)})
	if _, _, err := export.Append(m, export.AppendOptions{Loss: "cross-entropy"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("conflicting opset imports: %v", err)
	}
}

func names(vs []*onnxpb.ValueInfoProto) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.GetName())
	}
	return out
}

// TestAppendInference checks what Append infers from each committed model
// against what the exporting script says the model is.
func TestAppendInference(t *testing.T) {
	man := readManifest(t, modelsDir(t))
	for _, mm := range man.Models {
		lm := loadCommitted(t, mm.Name)
		_, rep := mustAppend(t, lm.Proto, export.AppendOptions{Loss: "focal"})
		c := rep.Config
		if string(c.Layout) != mm.Layout || c.SpatialDims != 2 || c.Opset != mm.Opset || !c.FromLogits {
			t.Errorf("%s: layout %s, spatial dims %d, opset %d, from_logits %t", mm.Name, c.Layout, c.SpatialDims, c.Opset, c.FromLogits)
		}
		if c.Classes != mm.Classes {
			t.Errorf("%s: %d classes, want %d", mm.Name, c.Classes, mm.Classes)
		}
		// The head, read straight from the graph.
		var producer *onnxpb.NodeProto
		for _, n := range lm.Proto.Graph.Node {
			if len(n.Output) > 0 && n.Output[0] == mm.OutputName {
				producer = n
			}
		}
		wantAct, wantAttached := "", mm.OutputName
		if mm.Head != "none" {
			wantAct, wantAttached = producer.GetOpType(), producer.Input[0]
			if strings.ToLower(wantAct) != mm.Head {
				t.Fatalf("%s: the script says head %s, the graph ends in %s", mm.Name, mm.Head, wantAct)
			}
			if !hasNote(rep, "logit space") {
				t.Errorf("%s: no note about reading the logits: %q", mm.Name, rep.Notes)
			}
		}
		if rep.Activation != wantAct || rep.AttachedTo != wantAttached {
			t.Errorf("%s: activation %q attached to %q; want %q, %q", mm.Name, rep.Activation, rep.AttachedTo, wantAct, wantAttached)
		}
		if !hasNote(rep, "layout "+mm.Layout) || !hasNote(rep, "mode ") {
			t.Errorf("%s: notes do not say the layout and mode: %q", mm.Name, rep.Notes)
		}
		// The target shares the output's dimension names.
		wantTarget := "int64[batch,height,width]"
		if mm.Classes == 1 {
			wantTarget = "float32[batch,1,height,width]"
		}
		if rep.Target != "target" || rep.TargetType != wantTarget {
			t.Errorf("%s: target %q %s, want target %s", mm.Name, rep.Target, rep.TargetType, wantTarget)
		}
	}
}

// TestAppendOptionsOverride checks that options override the inference and
// that options the model contradicts are refused as option errors.
func TestAppendOptionsOverride(t *testing.T) {
	fcn := loadCommitted(t, "fcn_small").Proto
	softmax := loadCommitted(t, "deeplabv3_small_softmax").Proto
	logsoftmax := loadCommitted(t, "logsoftmax").Proto
	sigmoid := loadCommitted(t, "sigmoid_binary").Proto

	// Overrides that work.
	_, rep := mustAppend(t, fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"mode": "multilabel"}})
	if rep.Config.Mode != losses.Multilabel || rep.Config.Classes != 3 || rep.TargetType != "float32[batch,3,height,width]" {
		t.Errorf("--mode multilabel: %s, %d classes, target %s", rep.Config.Mode, rep.Config.Classes, rep.TargetType)
	}
	_, rep = mustAppend(t, fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"layout": "nhwc", "mode": "multiclass"}})
	if rep.Config.Layout != "nhwc" || !hasNote(rep, "layout nhwc as given (the model suggests nchw") {
		t.Errorf("--layout nhwc: layout %s, notes %q", rep.Config.Layout, rep.Notes)
	}
	_, rep = mustAppend(t, softmax, export.AppendOptions{Loss: "cross-entropy", UseActivationOutput: true})
	if rep.Config.FromLogits || rep.AttachedTo != "out" {
		t.Errorf("--use-activation-output on a Softmax head: from_logits %t, reads %q", rep.Config.FromLogits, rep.AttachedTo)
	}
	_, rep = mustAppend(t, logsoftmax, export.AppendOptions{Loss: "cross-entropy", UseActivationOutput: true})
	if !rep.Config.FromLogits || rep.AttachedTo != "out" || !hasNote(rep, "log-probabilities") {
		t.Errorf("--use-activation-output on a LogSoftmax head: from_logits %t, reads %q, notes %q", rep.Config.FromLogits, rep.AttachedTo, rep.Notes)
	}
	_, rep = mustAppend(t, sigmoid, export.AppendOptions{Loss: "bce", UseActivationOutput: true})
	if rep.Config.FromLogits || rep.Config.Mode != losses.Binary {
		t.Errorf("--use-activation-output on a Sigmoid head: from_logits %t, mode %s", rep.Config.FromLogits, rep.Config.Mode)
	}
	_, rep = mustAppend(t, fcn, export.AppendOptions{Loss: "focal", UseActivationOutput: true})
	if !hasNote(rep, "changes nothing") {
		t.Errorf("--use-activation-output without a head: notes %q", rep.Notes)
	}

	// A preset's from_logits=false does not override the model: an output
	// without an activation head holds logits, as it does without the
	// preset; --from-logits=false given explicitly still reads probabilities.
	for _, loss := range []string{"focal", "cross-entropy", "dice"} {
		_, rep = mustAppend(t, fcn, export.AppendOptions{Loss: loss, LossOptions: losses.Options{"preset": "keras"}})
		if !rep.Config.FromLogits || !hasNote(rep, "--from-logits=false") {
			t.Errorf("%s --preset keras on raw logits: from_logits %t, notes %q", loss, rep.Config.FromLogits, rep.Notes)
		}
	}
	_, rep = mustAppend(t, fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"preset": "keras", "from_logits": "false"}})
	if rep.Config.FromLogits || !hasNote(rep, "read as probabilities") {
		t.Errorf("--preset keras --from-logits=false on an output without a head: from_logits %t, notes %q", rep.Config.FromLogits, rep.Notes)
	}

	// An output without a declared shape: the options say what it holds.
	noShape := proto.Clone(fcn).(*onnxpb.ModelProto)
	noShape.Graph.Output[0].Type.GetTensorType().Shape = nil
	_, rep = mustAppend(t, noShape, export.AppendOptions{Loss: "focal"})
	if !hasNote(rep, "declares no shape") || rep.TargetType != "int64[N,H,W]" || rep.Config.Classes != 3 || rep.Config.Mode != losses.Multiclass {
		t.Errorf("output without a shape: target %s, %s with %d classes, notes %q", rep.TargetType, rep.Config.Mode, rep.Config.Classes, rep.Notes)
	}
	if _, _, err := export.Append(noShape, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"layout": "nhwc"}}); err == nil || !strings.Contains(err.Error(), "give --mode") {
		t.Errorf("output without a shape, channels-last, no mode: %v", err)
	}
	_, rep = mustAppend(t, noShape, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"layout": "nhwc", "mode": "multiclass"}})
	if rep.Config.Classes != 0 || rep.Config.Layout != "nhwc" {
		t.Errorf("output without a shape, channels-last: %d classes, layout %s", rep.Config.Classes, rep.Config.Layout)
	}

	// Contradictions.
	tests := []struct {
		name   string
		m      *onnxpb.ModelProto
		opts   export.AppendOptions
		want   string
		option bool // a *losses.OptionError
	}{
		{"classes", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"classes": "4"}}, "differs from the 3 channels", true},
		{"dtype", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"dtype": "float16"}}, "differs from the float32", true},
		{"opset", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"opset": "13"}}, "model's opset 17", true},
		{"spatial dims", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"spatial-dims": "3"}}, "rank 4", true},
		{"binary on 3 channels", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"mode": "binary"}}, "needs one channel", true},
		{"multiclass on 1 channel", sigmoid, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"mode": "multiclass"}}, "two or more channels", true},
		{"from_logits=false on logits", softmax, export.AppendOptions{Loss: "cross-entropy", LossOptions: losses.Options{"from_logits": "false"}}, "--use-activation-output", true},
		{"from_logits=true on probabilities", softmax, export.AppendOptions{Loss: "cross-entropy", UseActivationOutput: true, LossOptions: losses.Options{"from-logits": "true"}}, "probabilities", true},
		{"from_logits=off on logits", softmax, export.AppendOptions{Loss: "cross-entropy", LossOptions: losses.Options{"--From-Logits": " off "}}, "--use-activation-output", true},
		{"from_logits not a boolean", softmax, export.AppendOptions{Loss: "cross-entropy", LossOptions: losses.Options{"from_logits": "maybe"}}, `from_logits "maybe" is not a boolean`, true},
		{"from_logits=yes on probabilities", sigmoid, export.AppendOptions{Loss: "bce", UseActivationOutput: true, LossOptions: losses.Options{"from_logits": "YES"}}, "probabilities", true},
		{"softmax over another axis", softmax, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"layout": "nhwc"}}, "Softmax over axis 1", true},
		{"log-probabilities in multilabel mode", logsoftmax, export.AppendOptions{Loss: "focal", UseActivationOutput: true, LossOptions: losses.Options{"mode": "multilabel"}}, "log-probabilities", false},
		{"softmax head, loss without multiclass", softmax, export.AppendOptions{Loss: "bce"}, "does not support", true},
		{"unknown loss", fcn, export.AppendOptions{Loss: "dcie"}, "unknown loss", false},
		{"bad loss option", fcn, export.AppendOptions{Loss: "focal", LossOptions: losses.Options{"gamma": "-1"}}, "out of range", true},
	}
	for _, tc := range tests {
		_, _, err := export.Append(tc.m, tc.opts)
		var oe *losses.OptionError
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		case tc.option && !errors.As(err, &oe):
			t.Errorf("%s: error %q is a %T, want an option error", tc.name, err, err)
		}
	}
}

// TestAppendOutputChoice covers models with several outputs.
func TestAppendOutputChoice(t *testing.T) {
	m := loadCommitted(t, "fcn_small").Proto
	// Also output the logits before the upsampling.
	var extra *onnxpb.ValueInfoProto
	for _, v := range m.Graph.ValueInfo {
		if v.GetName() == "/model/classifier/classifier.4/Conv_output_0" {
			extra = v
		}
	}
	if extra == nil {
		t.Fatal("the classifier's output has no value_info")
	}
	m.Graph.Output = append(m.Graph.Output, extra)
	_, _, err := export.Append(m, export.AppendOptions{Loss: "focal"})
	var choice *export.OutputChoiceError
	if !errors.As(err, &choice) || !strings.Contains(err.Error(), "--output") ||
		!strings.Contains(err.Error(), `"out" float32[batch,Resizeout_dim_1,height,width] from Resize`) ||
		!strings.Contains(err.Error(), `"/model/classifier/classifier.4/Conv_output_0"`) {
		t.Errorf("two outputs, none chosen: %v", err)
	}
	_, _, err = export.Append(m, export.AppendOptions{Loss: "focal", Output: "otu"})
	if !errors.As(err, &choice) || !strings.Contains(err.Error(), `did you mean "out"`) {
		t.Errorf("misspelt output: %v", err)
	}
	out, rep := mustAppend(t, m, export.AppendOptions{Loss: "focal", Output: "/model/classifier/classifier.4/Conv_output_0", KeepOutputs: true})
	if rep.AttachedTo != "/model/classifier/classifier.4/Conv_output_0" || rep.Config.Classes != 3 {
		t.Errorf("chosen output: reads %q, %d classes", rep.AttachedTo, rep.Config.Classes)
	}
	if got := names(out.Graph.Output); strings.Join(got, ",") != "loss,out,/model/classifier/classifier.4/Conv_output_0" {
		t.Errorf("--keep-outputs: outputs %v", got)
	}
}

// TestAppendRefusals covers models that cannot take a loss.
func TestAppendRefusals(t *testing.T) {
	base := loadCommitted(t, "logsoftmax").Proto
	with := func(f func(m *onnxpb.ModelProto)) *onnxpb.ModelProto {
		m := proto.Clone(base).(*onnxpb.ModelProto)
		f(m)
		return m
	}
	tests := []struct {
		name string
		m    *onnxpb.ModelProto
		want []string
	}{
		{"opset 12", with(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(12) }), []string{"opset 12", "re-exported", "13"}},
		{"opset 22", with(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(22) }), []string{"opset 22", "13 to 21"}},
		{"no default domain", with(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Domain = proto.String("com.example") }), []string{"no opset of the default"}},
		{"int output", with(func(m *onnxpb.ModelProto) { m.Graph.Output[0].Type.GetTensorType().ElemType = proto.Int32(7) }), []string{"element type int64"}},
		{"rank 2", with(func(m *onnxpb.ModelProto) {
			d := m.Graph.Output[0].Type.GetTensorType().Shape
			d.Dim = d.Dim[:2]
		}), []string{"rank 2"}},
		{"no outputs", with(func(m *onnxpb.ModelProto) { m.Graph.Output = nil }), []string{"no outputs"}},
		{"no graph", &onnxpb.ModelProto{IrVersion: proto.Int64(8)}, []string{"no graph"}},
		{"already spliced", with(func(m *onnxpb.ModelProto) {
			m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String("onnxloss.loss"), Value: proto.String("dice")})
		}), []string{"already carries", "onnxloss.loss=dice"}},
	}
	for _, tc := range tests {
		_, _, err := export.Append(tc.m, export.AppendOptions{Loss: "cross-entropy"})
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}

// TestAppendNames covers name clashes: a model input called target, an
// explicit target name, and a second loss on a spliced model.
func TestAppendNames(t *testing.T) {
	m := loadCommitted(t, "logsoftmax").Proto
	renameValue(m.Graph, "image", "target")
	_, rep := mustAppend(t, m, export.AppendOptions{Loss: "cross-entropy"})
	if rep.Target != "onnxloss/target" || !hasNote(rep, `"target"`) {
		t.Errorf("model input called target: the loss's target is %q, notes %q", rep.Target, rep.Notes)
	}
	_, rep = mustAppend(t, m, export.AppendOptions{Loss: "cross-entropy", TargetName: "labels"})
	if rep.Target != "labels" {
		t.Errorf("--target-name labels: target %q", rep.Target)
	}
	if _, _, err := export.Append(m, export.AppendOptions{Loss: "cross-entropy", TargetName: "model.3.weight"}); err == nil ||
		!strings.Contains(err.Error(), "already a name in the model") {
		t.Errorf("--target-name naming an initializer: %v", err)
	}

	// A second loss on a spliced model: the first one's names are taken.
	first, _ := mustAppend(t, loadCommitted(t, "logsoftmax").Proto, export.AppendOptions{Loss: "cross-entropy", KeepOutputs: true})
	first.MetadataProps = nil
	if _, _, err := export.Append(first, export.AppendOptions{Loss: "cross-entropy", Output: "out"}); err == nil || !strings.Contains(err.Error(), "--prefix") {
		t.Errorf("second loss with the same prefix: %v", err)
	}
	second, rep := mustAppend(t, first, export.AppendOptions{Loss: "focal", Output: "out", Prefix: "second/", KeepOutputs: true})
	if rep.Target != "second/target" || rep.LossOutput != "second/loss" {
		t.Errorf("second loss: target %q, loss %q", rep.Target, rep.LossOutput)
	}
	if got := names(second.Graph.Output); strings.Join(got, ",") != "second/loss,loss,out" {
		t.Errorf("outputs %v", got)
	}
	if err := export.Check(second); err != nil {
		t.Error(err)
	}
}

// renameValue renames a value everywhere in a graph.
func renameValue(g *onnxpb.GraphProto, from, to string) {
	for _, list := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, v := range list {
			if v.GetName() == from {
				v.Name = proto.String(to)
			}
		}
	}
	for _, n := range g.Node {
		for i, x := range n.Input {
			if x == from {
				n.Input[i] = to
			}
		}
		for i, x := range n.Output {
			if x == from {
				n.Output[i] = to
			}
		}
	}
}

// TestAppendFunctions splices onto a model with model-local functions (a
// PyTorch export with export_modules_as_functions): the functions stay, the
// result passes ONNX's checker and runs, and its loss matches the reference
// on the model's own output.
func TestAppendFunctions(t *testing.T) {
	testutil.RequireRuntime(t)
	lm, err := export.LoadModel(filepath.Join(testutil.Root(t), "onnxpb", "testdata", "tinynet_functions_opset17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.Proto.Functions) == 0 {
		t.Fatal("the fixture has no functions")
	}
	out, rep := mustAppend(t, lm.Proto, export.AppendOptions{Loss: "cross-entropy", KeepOutputs: true})
	if len(out.Functions) != len(lm.Proto.Functions) {
		t.Fatalf("%d functions, want %d", len(out.Functions), len(lm.Proto.Functions))
	}
	for i, f := range lm.Proto.Functions {
		if !proto.Equal(f, out.Functions[i]) {
			t.Errorf("function %s changed", f.GetName())
		}
	}
	dir := t.TempDir()
	p := save(t, dir, "functions.onnx", out)
	testutil.CheckONNX(t, p)
	runAgainstOwnOutput(t, p, rep, []int{2, 3, 9, 7}, []int{2, 2, 9, 7})
}

// runAgainstOwnOutput runs a spliced model that kept its outputs on a random
// image and compares the loss with the reference on the model's own output
// (which must be what the loss reads), of shape outShape.
func runAgainstOwnOutput(t *testing.T, path string, rep *export.AppendReport, imageShape, outShape []int) {
	t.Helper()
	sess, err := runtime.NewSessionFromFile(path, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	img := make([]float32, tensor.NumElements(imageShape))
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	spec, err := losses.Lookup(rep.Loss)
	if err != nil {
		t.Fatal(err)
	}
	feeds := makeTarget(rep.Config, spec, tensor.New(tensor.Float32, outShape...), rng)
	feeds[sess.Inputs()[0].Name] = tensor.FromFloat32(imageShape, img)
	got, err := sess.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	refIn := reference.Inputs{"input": got[rep.Output], "target": feeds["target"]}
	want, err := spec.Reference(refIn, rep.Config.Reference())
	if err != nil {
		t.Fatal(err)
	}
	if e, err := relErr(got["loss"], want, lossRTol, lossATol); err != nil || e > 1 {
		t.Errorf("loss %v, reference on the model's output %v (%v)", got["loss"], want, err)
	}
	// The loss's input checks come along, under the prefix: a target for
	// one sample less fails the run at the batch check.
	tgt := feeds["target"]
	feeds["target"] = tensor.New(tgt.DType, append([]int{tgt.Shape[0] - 1}, tgt.Shape[1:]...)...)
	check := export.DefaultPrefix + losses.CheckPrefix + losses.CheckTargetBatch
	raw, err := runtime.NewSessionFromFile(path, runtime.Options{SkipSymbolCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if out, err := raw.Run(feeds); err == nil || !strings.Contains(err.Error(), "'"+check+"'") {
		t.Errorf("a target of shape %v against the output %v: loss %v, error %v; want a failure at %s", feeds["target"].Shape, outShape, out["loss"], err, check)
	}
}

// TestAppendExternalData splices onto the committed model whose weights are
// external: the data stays external, next to the output, identical; a second
// write reuses it; a different file in the way is an error that leaves
// nothing behind.
func TestAppendExternalData(t *testing.T) {
	src := filepath.Join(modelsDir(t), "sigmoid_binary.onnx")
	lm := loadCommitted(t, "sigmoid_binary")
	if len(lm.External) != 1 || lm.External[0].Location != "sigmoid_binary.onnx.data" || lm.External[0].Tensors != 4 {
		t.Fatalf("external data %+v", lm.External)
	}
	data, err := os.ReadFile(filepath.Join(modelsDir(t), "sigmoid_binary.onnx.data"))
	if err != nil {
		t.Fatal(err)
	}
	if lm.External[0].Size != int64(len(data)) {
		t.Errorf("external size %d, file %d", lm.External[0].Size, len(data))
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "spliced.onnx")
	for range 2 {
		if _, err := export.AppendFile(src, out, export.AppendOptions{Loss: "focal"}); err != nil {
			t.Fatal(err)
		}
	}
	placed, err := os.ReadFile(filepath.Join(dir, "sigmoid_binary.onnx.data"))
	if err != nil || !bytes.Equal(placed, data) {
		t.Fatalf("external data next to the output: %v", err)
	}
	outLM, err := export.LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	// The model plus the focal loss with its input checks (about 10 KiB with
	// the names prefixed); the weights are not in it.
	if len(outLM.External) != 1 || outLM.External[0].Tensors != 4 || outLM.Size > lm.Size+16<<10 {
		t.Errorf("spliced model: %d bytes (model %d), external %+v", outLM.Size, lm.Size, outLM.External)
	}
	// Loading it from bytes cannot find the data: WriteModel says so.
	b, _ := os.ReadFile(src)
	fromBytes, err := export.ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := fromBytes.WriteModel(filepath.Join(dir, "x.onnx"), fromBytes.Proto); err == nil || !strings.Contains(err.Error(), "external data") {
		t.Errorf("WriteModel of a parsed model with external data: %v", err)
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "sigmoid_binary.onnx.data"), []byte("something else"), 0o644); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(other, "spliced.onnx")
	if _, err := export.AppendFile(src, out2, export.AppendOptions{Loss: "focal"}); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Errorf("data file in the way: %v", err)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Error("a failed AppendFile left the model behind")
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Errorf("a failed AppendFile left files behind: %v", entries)
	}
}

// TestAppendSymbolicClassAxis checks that the number of classes comes from
// the graph when the output names its class axis symbolically and the model
// declares no intermediate shapes, as PyTorch writes LR-ASPP: a Resize of
// the sum of two heads' Convs. The walk back from the output reaches the
// Convs' weights through Resize and Add.
func TestAppendSymbolicClassAxis(t *testing.T) {
	dim := func(p string) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
	}
	fixed := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	weight := func(name string, in int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float32)),
			Dims: []int64{3, in, 1, 1}, FloatData: make([]float32, 3*in)}
	}
	node := func(op string, in []string, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}, Name: proto.String(op + "_" + out)}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("lraspp_like"),
			Input:       []*onnxpb.ValueInfoProto{vi("image", dim("batch"), fixed(3), dim("height"), dim("width"))},
			Output:      []*onnxpb.ValueInfoProto{vi("out", dim("batch"), dim("Resize_dim_1"), dim("height"), dim("width"))},
			Initializer: []*onnxpb.TensorProto{weight("w_low", 3), weight("w_high", 3)},
			Node: []*onnxpb.NodeProto{
				node("Conv", []string{"image", "w_low"}, "low"),
				node("Conv", []string{"image", "w_high"}, "high"),
				node("Add", []string{"low", "high"}, "sum"),
				node("Shape", []string{"image"}, "size"),
				node("Resize", []string{"sum", "", "", "size"}, "out"),
			},
		},
	}
	_, rep := mustAppend(t, m, export.AppendOptions{Loss: "focal"})
	if rep.Config.Classes != 3 || rep.Config.Mode != losses.Multiclass {
		t.Errorf("%d classes, mode %s; want 3, multiclass (notes %q)", rep.Config.Classes, rep.Config.Mode, rep.Notes)
	}
}
